package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/zsm-dev/zsm/broker"
	"github.com/zsm-dev/zsm/internal/config"
	"github.com/zsm-dev/zsm/internal/event"
	"github.com/zsm-dev/zsm/internal/pidfile"
	"github.com/zsm-dev/zsm/internal/proc"
	"github.com/zsm-dev/zsm/internal/sdnotify"
	"github.com/zsm-dev/zsm/internal/snapshot"
	"github.com/zsm-dev/zsm/internal/sockets"
	"github.com/zsm-dev/zsm/internal/version"
)

// server is one site's broker with what surrounds it: its pid file, log,
// sockets, control socket, bus object, status page and signals. newServer
// opens what the broker needs to start; Run starts the rest, serves until
// its context ends, and stops everything it started; close releases what
// newServer opened.
//
// A configuration that does not load never takes the site down: the
// server runs the copy saved the last time it loaded (package snapshot), or,
// without one, answers every connection with the explicit failure
// (fallback.go) until a reload loads the file.
type server struct {
	opts        serveOptions
	daemonChild bool   // started by --daemon: tell the parent once up
	config      string // the configuration file, absolute
	rtDir       string
	state       string // where the saved copies are
	env         []string

	pid      *pidfile.File
	log      *logger
	bus      *busSink
	recent   *event.Ring // the last events, for the status surfaces
	events   event.Sink  // the log, the bus and recent
	notify   *sdnotify.Notifier
	children *proc.Children // the workers, to tell them from orphans

	passed, stored []*os.File   // what systemd passed, until sockets takes them
	site           *config.Site // nil while the configuration does not load
	configErr      error        // why the file did not load, when the site is a saved copy
	fallback       *fallback    // without a site
	sockets        *sockets.Set // the site's
	broker         *broker.Broker
	ctl            switchControl // the broker, or the fallback
}

// errRunning says a broker holds the pid file already (--if-stopped).
var errRunning = errors.New("a broker runs already")

func newServer(o serveOptions, daemonChild bool, env []string) (_ *server, err error) {
	s := &server{opts: o, daemonChild: daemonChild, env: env, bus: newBusSink(), recent: event.NewRing(recentEvents),
		children: &proc.Children{}, notify: sdnotify.New()}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	if s.config, err = filepath.Abs(o.config); err != nil {
		return nil, err
	}
	if s.rtDir, err = runtimeDir(); err != nil {
		return nil, err
	}
	s.state = snapshot.Dir(s.rtDir)
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
	s.started()
	if s.passed, s.stored, err = sockets.Passed(sockets.OSEnv); err != nil {
		return nil, err
	}
	site, err := s.load()
	if err != nil {
		return s, s.withoutConfig(err)
	}
	return s, s.start(site)
}

// started is the broker's first log line: which zsm this is.
func (s *server) started() {
	v := version.Read()
	attrs := []slog.Attr{slog.String("version", v.Version)}
	if v.Revision != "" {
		attrs = append(attrs, slog.String("revision", v.Revision))
	}
	if v.Modified {
		attrs = append(attrs, slog.Bool("modified", true))
	}
	s.ctl.version = v.String()
	s.notice(slog.LevelInfo, "zsm starting", attrs...)
}

// close releases what newServer opened, the log last.
func (s *server) close() {
	if s.sockets != nil {
		s.sockets.Close()
	}
	for _, f := range append(s.passed, s.stored...) {
		f.Close() // not taken by sockets
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

// start makes the broker for site, on its sockets.
func (s *server) start(site *config.Site) error {
	s.site = site
	if err := s.openSockets(); err != nil {
		return err
	}
	cfg, err := s.brokerConfig()
	if err != nil {
		return err
	}
	s.broker = broker.New(cfg)
	s.ctl.set(siteControl{s.broker, s.dropped, s.recent})
	return nil
}

// Run serves the site until ctx is done, and returns once every part it
// started has stopped.
func (s *server) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := s.serveControl(ctx, &wg, &s.ctl); err != nil {
		return err
	}
	s.serveBus(ctx, &wg, &s.ctl)
	s.servePage(ctx, &wg, &s.ctl)
	s.handleSignals(ctx, &wg)
	stopReaping := s.reapOrphans()
	defer stopReaping()
	if s.daemonChild {
		if err := daemonStarted(); err != nil {
			return err
		}
	}
	if s.fallback != nil {
		site := s.runFallback(ctx)
		if site == nil {
			return nil // stopped meanwhile
		}
		if err := s.start(site); err != nil {
			return err
		}
		s.servePage(ctx, &wg, &s.ctl)
	}
	err := s.runBroker(ctx)
	if errors.Is(err, broker.ErrStopTimeout) {
		s.notice(slog.LevelWarn, "stopped; some workers had to be killed")
	}
	return err
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
