package main

import (
	"context"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/zsm-dev/zsm/broker"
	"github.com/zsm-dev/zsm/internal/busapi"
	"github.com/zsm-dev/zsm/internal/config"
	"github.com/zsm-dev/zsm/internal/control"
	"github.com/zsm-dev/zsm/internal/event"
	"github.com/zsm-dev/zsm/internal/proc"
	"github.com/zsm-dev/zsm/internal/status"
)

// The parts of a server around its broker: the control socket, the bus,
// the status page, signals and orphans.

// reapOrphans makes the broker the reaper of what its workers leave
// behind when they exit (processes that left their group), reaps those as
// they exit, and kills the rest once the broker has stopped: nothing of a
// site outlives its broker.
// The returned func, called once the broker has stopped (every worker has
// exited, so that their orphans are the broker's), kills them and returns
// when it is done.
func (s *server) reapOrphans() (stop func()) {
	if err := proc.BecomeSubreaper(); err != nil {
		s.notice(slog.LevelWarn, "cannot adopt the workers' orphans", slog.String("err", err.Error()))
		return func() {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		// Go checks once, with a child process of its own, that pidfds
		// work, before its first start of a process: have that done here,
		// beside a cold start rather than before its first worker, and
		// before orphans are reaped, which could take that child's exit.
		os.FindProcess(os.Getpid())
		s.children.Reap(ctx)
	}()
	return func() {
		cancel()
		<-done
		s.children.KillOrphans(flushTimeout)
	}
}

// dropped counts the events the log and the bus dropped.
func (s *server) dropped() uint64 { return s.log.dropped() + s.bus.queue.Dropped() }

// recentEvents is how many of its last events a site's status shows.
const recentEvents = 20

// siteControl is the broker as its control planes drive it; its status
// also carries its recent events and counts those its sinks dropped.
type siteControl struct {
	*broker.Broker
	dropped func() uint64
	recent  *event.Ring
}

func (c siteControl) Status(ctx context.Context) (status.Site, error) {
	st, err := c.Broker.Status(ctx)
	st.LogDropped = c.dropped()
	for _, e := range c.recent.Last() {
		st.Events = append(st.Events, status.Event{
			Time: uint64(e.Time.UnixMicro()), Kind: e.Kind.String(), Level: e.Level.String(), Message: event.Text(e),
		})
	}
	return st, err
}

// serveControl serves the control socket (zsm status, reload, drain).
func (s *server) serveControl(ctx context.Context, wg *sync.WaitGroup, c control.Controller) error {
	srv, err := control.Listen(s.rtDir, s.opts.site)
	if err != nil {
		return err
	}
	wg.Go(func() { srv.Serve(ctx, c) })
	return nil
}

// serveBus puts the site on the session bus, when there is one. It
// connects beside the broker's start, not before it: a cold start's first
// connection does not wait for the bus.
func (s *server) serveBus(ctx context.Context, wg *sync.WaitGroup, c control.Controller) {
	wg.Go(func() {
		conn, err := busapi.Connect()
		if err != nil {
			s.notice(slog.LevelInfo, "not on D-Bus", slog.String("err", err.Error()))
			return
		}
		defer conn.Close()
		// Exporting reads the status, which the running broker answers.
		srv, err := busapi.Export(conn, s.opts.site, c)
		if err != nil {
			s.notice(slog.LevelWarn, "cannot put the site on D-Bus", slog.String("err", err.Error()))
			return
		}
		s.bus.server.Store(srv)
		defer s.bus.server.Store(nil)
		srv.Run(ctx)
	})
}

// servePage serves the site's own status page, when it has one (a site
// whose configuration does not load has none).
func (s *server) servePage(ctx context.Context, wg *sync.WaitGroup, c control.Controller) {
	if s.site == nil || s.site.Status == nil {
		return
	}
	addr := s.site.Status
	if addr == nil {
		return
	}
	if !s.site.StatusAllowed() {
		s.notice(slog.LevelWarn, "status page not served: its address is reachable from other hosts, and the page shows commands and errors; set public = true in the status block to serve it there",
			slog.String("listen", addr.String()))
		return
	}
	source := func(ctx context.Context) ([]status.Site, error) {
		st, err := c.Status(ctx)
		return []status.Site{st}, err
	}
	wg.Go(func() {
		if err := servePage(ctx, *addr, s.rtDir, source, s.notice); err != nil {
			s.notice(slog.LevelError, "no status page", slog.String("err", err.Error()))
		}
	})
}

// handleSignals waits for SIGHUP and SIGUSR1 and calls their handlers,
// one at a time (SIGTERM and SIGINT end ctx).
func (s *server) handleSignals(ctx context.Context, wg *sync.WaitGroup) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGUSR1)
	wg.Go(func() {
		defer signal.Stop(sigs)
		for {
			select {
			case sig := <-sigs:
				if sig == syscall.SIGHUP {
					s.handleHUP(ctx)
				} else {
					s.handleUSR1()
				}
			case <-ctx.Done():
				return
			}
		}
	})
}

// handleHUP reloads the site; the broker logs the outcome.
func (s *server) handleHUP(ctx context.Context) { s.ctl.Reload(ctx) }

// handleUSR1 reopens the log file (logrotate).
func (s *server) handleUSR1() {
	if s.log.reopen == nil {
		s.notice(slog.LevelInfo, "SIGUSR1: no log file to reopen")
		return
	}
	if err := s.log.reopen(); err != nil {
		s.notice(slog.LevelError, "cannot reopen the log file", slog.String("err", err.Error()))
		return
	}
	s.notice(slog.LevelInfo, "reopened the log file")
}

// busSink sends events to the site's bus object once it is exported,
// through a queue of its own: the bus may stall too.
type busSink struct {
	server atomic.Pointer[busapi.Server]
	queue  *event.Queue
}

func newBusSink() *busSink {
	b := &busSink{}
	b.queue = event.NewQueue(event.Func(func(e event.Event) {
		if srv := b.server.Load(); srv != nil {
			srv.Event(e)
		}
	}), queueSize)
	return b
}

// switchControl is the site's Controller for the control planes: the
// fallback while the configuration does not load, then the broker. Its
// status carries the broker's version.
type switchControl struct {
	c       atomic.Pointer[control.Controller]
	version string // set before the control planes start
}

func (s *switchControl) set(c control.Controller) { s.c.Store(&c) }

func (s *switchControl) get() control.Controller {
	if c := s.c.Load(); c != nil {
		return *c
	}
	return nil
}

func (s *switchControl) Status(ctx context.Context) (status.Site, error) {
	st, err := s.get().Status(ctx)
	st.Version = s.version
	return st, err
}

func (s *switchControl) Reload(ctx context.Context) error { return s.get().Reload(ctx) }
func (s *switchControl) Drain(ctx context.Context) error  { return s.get().Drain(ctx) }
func (s *switchControl) SetPool(ctx context.Context, minIdle, max int) error {
	return s.get().SetPool(ctx, minIdle, max)
}

// runFallback serves the fallback until a reload loads the configuration
// (its site) or ctx ends (nil). Connections a previous broker stored get
// the failure at once.
func (s *server) runFallback(ctx context.Context) *config.Site {
	site := &config.Site{Name: s.opts.site, Protocol: config.HTTP}
	for _, f := range s.stored {
		if c, err := net.FileConn(f); err == nil {
			go broker.Refuse(c, site, s.fallback.reason())
		}
		f.Close()
	}
	s.stored = nil
	s.notify.Notify("READY=1\nSTATUS=failing: " + s.fallback.reason())
	return s.fallback.run(ctx)
}
