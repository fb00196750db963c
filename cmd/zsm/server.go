package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"

	"github.com/zsm-dev/zsm/broker"
	"github.com/zsm-dev/zsm/internal/busapi"
	"github.com/zsm-dev/zsm/internal/config"
	"github.com/zsm-dev/zsm/internal/config/hclconfig"
	"github.com/zsm-dev/zsm/internal/control"
	"github.com/zsm-dev/zsm/internal/event"
	"github.com/zsm-dev/zsm/internal/pidfile"
	"github.com/zsm-dev/zsm/internal/proc"
	"github.com/zsm-dev/zsm/internal/sdnotify"
	"github.com/zsm-dev/zsm/internal/sockets"
	"github.com/zsm-dev/zsm/internal/status"
)

// server is one site's broker with what surrounds it: its pid file, log,
// sockets, control socket, bus object, status page and signals. newServer
// opens what the broker needs to start; Run starts the rest, serves until
// its context ends, and stops everything it started; close releases what
// newServer opened.
type server struct {
	opts        serveOptions
	daemonChild bool // started by --daemon: tell the parent once up
	rtDir       string

	pid      *pidfile.File
	log      *logger
	bus      *busSink
	recent   *event.Ring // the last events, for the status surfaces
	events   event.Sink  // the log, the bus and recent
	site     *config.Site
	sockets  *sockets.Set
	notify   *sdnotify.Notifier
	children *proc.Children // the workers, to tell them from orphans
	broker   *broker.Broker
}

// errRunning says a broker holds the pid file already (--if-stopped).
var errRunning = errors.New("a broker runs already")

func newServer(o serveOptions, daemonChild bool, env []string) (_ *server, err error) {
	s := &server{opts: o, daemonChild: daemonChild, bus: newBusSink(), recent: event.NewRing(recentEvents), children: &proc.Children{}}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	if s.rtDir, err = runtimeDir(); err != nil {
		return nil, err
	}
	if err := s.lockPidfile(); err != nil {
		return nil, err
	}
	if s.log, err = openLog(o.log, o.site, daemonChild); err != nil {
		return nil, err
	}
	if s.log.note != "" {
		fmt.Fprintln(os.Stderr, "zsm:", s.log.note)
	}
	s.events = event.Tee(s.log.events, s.bus.queue, s.recent)
	if s.site, err = loadSite(o.config, o.site); err != nil {
		return nil, err
	}
	if err := s.openSockets(); err != nil {
		return nil, err
	}
	cfg, err := s.brokerConfig(env)
	if err != nil {
		return nil, err
	}
	s.broker = broker.New(cfg)
	return s, nil
}

// close releases what newServer opened, the log last.
func (s *server) close() {
	if s.sockets != nil {
		s.sockets.Close()
	}
	if s.pid != nil {
		s.pid.Remove()
	}
	s.bus.queue.Close(flushTimeout)
	if s.log != nil {
		s.log.close()
	}
}

// notice tells the log (and the bus) something of the server's own.
func (s *server) notice(level slog.Level, msg string, attrs ...slog.Attr) {
	s.events.Event(event.Event{Time: time.Now(), Kind: event.Notice, Level: level, Site: s.opts.site, Message: msg, Attrs: attrs})
}

// lockPidfile takes the pid file, when there is one: relative, it is in
// the runtime directory, as relative unix socket paths are.
func (s *server) lockPidfile() error {
	path := s.opts.pidfile
	if path == "" {
		return nil
	}
	if !filepath.IsAbs(path) {
		path = filepath.Join(s.rtDir, path)
	}
	pid, err := pidfile.Acquire(path)
	var held *pidfile.HeldError
	if errors.As(err, &held) && s.opts.ifStopped {
		return errRunning
	}
	s.pid = pid
	return err
}

// loadSite reads the site called name from the configuration at path.
func loadSite(path, name string) (*config.Site, error) {
	f, err := hclconfig.Load(path)
	if err != nil {
		return nil, err
	}
	if s := f.Site(name); s != nil {
		return s, nil
	}
	return nil, fmt.Errorf("%s has no site %q", f.Path, name)
}

// openSockets takes the sockets systemd passed, or binds the site's own.
// Sockets that do not match the configuration get their waiting
// connections answered, and the broker exits with EX_CONFIG, which the
// unit does not restart on.
func (s *server) openSockets() error {
	set, err := sockets.Open(s.site, s.rtDir, sockets.OSEnv)
	var mismatch *sockets.MismatchError
	if errors.As(err, &mismatch) {
		sockets.Refuse(mismatch.Files, func(c net.Conn) {
			broker.Refuse(c, s.site, "its sockets do not match its configuration; run zsmgen units")
		})
		for _, f := range mismatch.Files {
			f.Close()
		}
		return exitError{code: exConfig, err: err}
	}
	if err != nil {
		return err
	}
	s.sockets = set
	if set.FromSystemd {
		s.notice(slog.LevelInfo, "using the sockets systemd passed", slog.Int("sockets", len(set.Sockets)))
	} else {
		s.notice(slog.LevelInfo, "no sockets passed by systemd: bound them", slog.Int("sockets", len(set.Sockets)))
	}
	if s.pid != nil {
		if s.pid.Stale != 0 {
			s.notice(slog.LevelInfo, "replaced a stale pid file", slog.String("pidfile", s.pid.Path()), slog.Int("stale_pid", s.pid.Stale))
		} else {
			s.notice(slog.LevelInfo, "wrote the pid file", slog.String("pidfile", s.pid.Path()))
		}
	}
	return nil
}

// brokerConfig wires the broker: its sockets, workers, events, the
// service manager and the environment workers start from.
func (s *server) brokerConfig(env []string) (broker.Config, error) {
	self, err := os.Executable()
	if err != nil {
		return broker.Config{}, err
	}
	socks := make([]broker.Socket, len(s.sockets.Sockets))
	for i, sk := range s.sockets.Sockets {
		socks[i] = broker.Socket{Addr: sk.Addr, File: sk.File}
	}
	// WatchdogSec= in the unit: the broker's loop pings. Unset before the
	// workers start, so that they do not inherit it.
	watchdog, err := daemon.SdWatchdogEnabled(true)
	if err != nil {
		s.notice(slog.LevelWarn, "ignoring the watchdog settings", slog.String("err", err.Error()))
	}
	cfg := broker.Config{
		Site:    s.site,
		Sockets: socks,
		Spawner: broker.ProcessSpawner{Spawner: proc.Spawner{Shim: self, Journal: s.log.journal, Output: s.log.output,
			Children: s.children}},
		Events:   s.events,
		Env:      env,
		Stdout:   os.Stdout,
		Stderr:   os.Stderr,
		Load:     func() (*config.Site, error) { return loadSite(s.opts.config, s.opts.site) },
		CanExit:  s.sockets.FromSystemd,
		Pending:  s.sockets.Stored,
		Watchdog: watchdog,
	}
	// A nil *Notifier must not become a non-nil interface.
	if s.notify = sdnotify.New(); s.notify != nil {
		cfg.Notify, cfg.Store = s.notify, s.notify
	}
	if len(s.sockets.Stored) > 0 {
		// They are ours now: the store must not hand them out again.
		if err := s.notify.RemoveFDs(sockets.StoredConn); err != nil {
			s.notice(slog.LevelWarn, "cannot clear the fd store", slog.String("err", err.Error()))
		}
	}
	return cfg, nil
}

// Run serves the site until ctx is done, and returns once every part it
// started has stopped.
func (s *server) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ctl := siteControl{s.broker, s.dropped, s.recent}
	if err := s.serveControl(ctx, &wg, ctl); err != nil {
		return err
	}
	s.serveBus(ctx, &wg, ctl)
	s.servePage(ctx, &wg, ctl)
	s.handleSignals(ctx, &wg)
	s.reapOrphans(ctx, &wg)
	if s.daemonChild {
		if err := daemonStarted(); err != nil {
			return err
		}
	}
	err := s.runBroker(ctx)
	if errors.Is(err, broker.ErrStopTimeout) {
		s.notice(slog.LevelWarn, "stopped; some workers had to be killed")
	}
	return err
}

// reapOrphans makes the broker the reaper of what its workers leave
// behind when they exit (processes that left their group), reaps those as
// they exit, and kills the rest once the broker has stopped: nothing of a
// site outlives its broker.
func (s *server) reapOrphans(ctx context.Context, wg *sync.WaitGroup) {
	if err := proc.BecomeSubreaper(); err != nil {
		s.notice(slog.LevelWarn, "cannot adopt the workers' orphans", slog.String("err", err.Error()))
		return
	}
	wg.Go(func() {
		s.children.Reap(ctx)
		s.children.KillOrphans(flushTimeout)
	})
}

// runBroker runs the broker's loop on this goroutine, locked to its
// thread: the kernel places a thread by what it wakes and is woken by,
// which a goroutine moved between threads blurs (bench/notes.md), and the
// workers the loop starts get their parent-death signal when that thread
// exits, so it must outlive them. A busy loop keeps its P while it waits
// (broker.Run): the other goroutines get a second one.
func (s *server) runBroker(ctx context.Context) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if n := runtime.GOMAXPROCS(0); n < 2 {
		runtime.GOMAXPROCS(2)
		defer runtime.GOMAXPROCS(n)
	}
	return s.broker.Run(ctx)
}

// dropped counts the events the log and the bus dropped.
func (s *server) dropped() uint64 { return s.log.events.Dropped() + s.bus.queue.Dropped() }

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
	srv, err := control.Listen(s.rtDir, s.site.Name)
	if err != nil {
		return err
	}
	wg.Go(func() { srv.Serve(ctx, c) })
	return nil
}

// serveBus puts the site on the session bus, when there is one.
func (s *server) serveBus(ctx context.Context, wg *sync.WaitGroup, c control.Controller) {
	conn, err := busapi.Connect()
	if err != nil {
		s.notice(slog.LevelInfo, "not on D-Bus", slog.String("err", err.Error()))
		return
	}
	wg.Go(func() {
		defer conn.Close()
		// Exporting reads the status, which the running broker answers.
		srv, err := busapi.Export(conn, s.site.Name, c)
		if err != nil {
			s.notice(slog.LevelWarn, "cannot put the site on D-Bus", slog.String("err", err.Error()))
			return
		}
		s.bus.server.Store(srv)
		defer s.bus.server.Store(nil)
		srv.Run(ctx)
	})
}

// servePage serves the site's own status page, when it has one.
func (s *server) servePage(ctx context.Context, wg *sync.WaitGroup, c control.Controller) {
	addr := s.site.Status
	if addr == nil {
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
func (s *server) handleHUP(ctx context.Context) { s.broker.Reload(ctx) }

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
