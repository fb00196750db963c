package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"

	"github.com/coreos/go-systemd/v22/daemon"
	"golang.org/x/sys/unix"

	"github.com/zsm-dev/zsm/broker"
	"github.com/zsm-dev/zsm/internal/config"
	"github.com/zsm-dev/zsm/internal/config/hclconfig"
	"github.com/zsm-dev/zsm/internal/proc"
	"github.com/zsm-dev/zsm/internal/shim"
	"github.com/zsm-dev/zsm/internal/snapshot"
	"github.com/zsm-dev/zsm/internal/sockets"
)

// How a server finds its site, its sockets and its broker's configuration.

// load reads the site from the configuration file: the copy kept of it
// when the file has not changed since (package snapshot), else by
// decoding the file, keeping a copy for the next start and for the day
// the file does not load.
func (s *server) load() (*config.Site, error) {
	src, err := hclconfig.Read(s.config)
	if err != nil {
		return nil, err
	}
	home, _ := os.UserHomeDir()
	source := snapshot.Digest(s.config, home, src)
	if site := snapshot.Current(s.state, s.config, s.opts.site, source); site != nil {
		return site, nil
	}
	f, err := hclconfig.Parse(s.config, src, hclconfig.Options{Home: home})
	if err != nil {
		return nil, err
	}
	site := f.Site(s.opts.site)
	if site == nil {
		return nil, fmt.Errorf("%s has no site %q", f.Path, s.opts.site)
	}
	if err := snapshot.Save(s.state, s.config, source, site); err != nil {
		s.notice(slog.LevelWarn, "cannot keep a copy of the configuration", slog.String("err", err.Error()))
	}
	return site, nil
}

// withoutConfig decides what serves the site when its configuration does
// not load (cause): the copy saved the last time it did, or the fallback
// on the sockets systemd passed. Without either, there is nothing to
// serve: the error, with EX_CONFIG.
func (s *server) withoutConfig(cause error) error {
	snap, err := snapshot.Load(s.state, s.config, s.opts.site)
	if err == nil {
		s.configErr = cause
		s.notice(slog.LevelError, "the configuration does not load: running the copy that loaded last",
			slog.String("err", cause.Error()), slog.Time("saved", snap.Saved))
		return s.start(snap.Site)
	}
	if len(s.passed) == 0 {
		return exitError{code: exConfig, err: cause}
	}
	s.notice(slog.LevelError, "the configuration does not load, and no copy of it was kept: answering every connection with the error until a reload loads it",
		slog.String("err", cause.Error()))
	s.fallback = newFallback(s.opts.site, s.passed, cause, s.load)
	s.ctl.set(s.fallback)
	return nil
}

// openSockets takes the sockets systemd passed, or binds the site's own.
// Sockets that do not match the configuration get their waiting
// connections answered, and the broker exits with EX_CONFIG; the unit
// tries again a second later (until zsmgen units mends the sockets).
func (s *server) openSockets() error {
	set, err := sockets.Match(s.site, s.rtDir, s.passed, s.stored)
	s.passed, s.stored = nil, nil // the set's, or closed
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

// shimProgram is the exec shim that starts workers: zsm-exec beside this
// executable, which starts in a third of zsm's time (package shim), else
// zsm itself.
func shimProgram() (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", err
	}
	return shimBeside(self), nil
}

func shimBeside(self string) string {
	exec := filepath.Join(filepath.Dir(self), shim.Program)
	if unix.Access(exec, unix.X_OK) == nil {
		return exec
	}
	return self
}

// brokerConfig wires the broker: its sockets, workers, events, the
// service manager and the environment workers start from.
func (s *server) brokerConfig() (broker.Config, error) {
	exec, err := shimProgram()
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
		Spawner: broker.ProcessSpawner{Spawner: proc.Spawner{Shim: exec, Journal: s.log.journal, Output: s.log.output,
			Children: s.children}},
		Events:      s.events,
		Env:         s.env,
		Stdout:      os.Stdout,
		Stderr:      os.Stderr,
		Load:        s.load,
		ConfigError: s.configErr,
		CanExit:     s.sockets.FromSystemd,
		Pending:     s.sockets.Stored,
		Watchdog:    watchdog,
	}
	// A nil *Notifier must not become a non-nil interface.
	if s.notify != nil {
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
