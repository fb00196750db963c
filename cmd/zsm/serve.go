package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"sync"
	"syscall"

	"github.com/coreos/go-systemd/v22/daemon"

	"github.com/zsm-dev/zsm/broker"
	"github.com/zsm-dev/zsm/internal/busapi"
	"github.com/zsm-dev/zsm/internal/config"
	"github.com/zsm-dev/zsm/internal/config/hclconfig"
	"github.com/zsm-dev/zsm/internal/control"
	"github.com/zsm-dev/zsm/internal/pidfile"
	"github.com/zsm-dev/zsm/internal/proc"
	"github.com/zsm-dev/zsm/internal/sdnotify"
	"github.com/zsm-dev/zsm/internal/sockets"
)

func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	site := fs.String("site", "", "the site to run (a site block's name)")
	cfgPath := fs.String("config", os.Getenv("ZSM_CONFIG"), "the configuration file (default $ZSM_CONFIG)")
	pidPath := fs.String("pidfile", "", "keep a pid file here, relative to $XDG_RUNTIME_DIR (else /tmp/zsm-UID); refuse to start when a running broker holds it")
	ifStopped := fs.Bool("if-stopped", false, "with --pidfile: when a broker runs already, exit 0 quietly (for cron)")
	detach := fs.Bool("daemon", false, "detach, and return once the broker is up (without systemd)")
	logFlag := fs.String("log", "auto", logUsage)
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if *site == "" || *cfgPath == "" || fs.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: zsm serve --site NAME [--config FILE] [--pidfile FILE [--if-stopped]] [--daemon] [--log DEST]")
		return errUsage
	}
	dest, err := parseLogDest(*logFlag)
	if err != nil {
		return err
	}
	child := os.Getenv(daemonEnv) != ""
	os.Unsetenv(daemonEnv)
	if *detach && !child {
		// The child starts in /: it gets absolute paths.
		cfg, err := filepath.Abs(*cfgPath)
		if err != nil {
			return err
		}
		cargs := []string{"serve", "--site", *site, "--config", cfg, "--log", dest.String()}
		if *pidPath != "" {
			cargs = append(cargs, "--pidfile", *pidPath) // relative: to the runtime directory
		}
		if *ifStopped {
			cargs = append(cargs, "--if-stopped")
		}
		return daemonize(cargs)
	}
	if path := os.Getenv("ZSM_CPUPROFILE"); path != "" {
		// For `go run ./bench -pprof DIR`: the broker's own CPU profile
		// (the daemon child's, not its parent's), written when it stops.
		// Not the workers'.
		os.Unsetenv("ZSM_CPUPROFILE")
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	rtDir, err := runtimeDir()
	if err != nil {
		return err
	}
	var pid *pidfile.File
	if *pidPath != "" {
		// A relative pid file is in the runtime directory, as relative
		// unix socket paths are.
		path := *pidPath
		if !filepath.IsAbs(path) {
			path = filepath.Join(rtDir, path)
		}
		pid, err = pidfile.Acquire(path)
		var held *pidfile.HeldError
		if errors.As(err, &held) && *ifStopped {
			return nil
		}
		if err != nil {
			return err
		}
		defer pid.Remove()
	}
	lg, err := openLog(dest, *site, child)
	if err != nil {
		return err
	}
	defer lg.close()
	if lg.note != "" {
		fmt.Fprintln(os.Stderr, "zsm:", lg.note)
	}
	// Every entry also feeds the D-Bus signals, once the site is on the bus.
	tee := busapi.Tee(lg.handler)
	log := slog.New(tee)

	f, err := hclconfig.Load(*cfgPath)
	if err != nil {
		return err
	}
	s := f.Site(*site)
	if s == nil {
		return fmt.Errorf("%s has no site %q", f.Path, *site)
	}
	set, err := sockets.Open(s, rtDir, sockets.OSEnv)
	var mismatch *sockets.MismatchError
	if errors.As(err, &mismatch) {
		// Nothing can serve them: answer the waiting connections, and
		// exit with EX_CONFIG, which the unit does not restart on.
		sockets.Refuse(mismatch.Files, func(c net.Conn) {
			broker.Refuse(c, s, "its sockets do not match its configuration; run zsmgen units")
		})
		for _, f := range mismatch.Files {
			f.Close()
		}
		return exitError{code: exConfig, err: err}
	}
	if err != nil {
		return err
	}
	defer set.Close()
	if set.FromSystemd {
		log.Info("using the sockets systemd passed", "site", s.Name, "sockets", len(set.Sockets))
	} else {
		log.Info("no sockets passed by systemd: bound them", "site", s.Name, "sockets", len(set.Sockets))
	}
	if pid != nil {
		if pid.Stale != 0 {
			log.Info("replaced a stale pid file", "site", s.Name, "pidfile", pid.Path(), "stale_pid", pid.Stale)
		} else {
			log.Info("wrote the pid file", "site", s.Name, "pidfile", pid.Path())
		}
	}

	self, err := os.Executable()
	if err != nil {
		return err
	}
	socks := make([]broker.Socket, len(set.Sockets))
	for i, sk := range set.Sockets {
		socks[i] = broker.Socket{Addr: sk.Addr, File: sk.File}
	}
	load := func() (*config.Site, error) {
		f, err := hclconfig.Load(*cfgPath)
		if err != nil {
			return nil, err
		}
		if s := f.Site(*site); s != nil {
			return s, nil
		}
		return nil, fmt.Errorf("%s has no site %q any more", f.Path, *site)
	}
	// WatchdogSec= in the unit: the broker's loop pings. Unset before the
	// workers start, so that they do not inherit it.
	watchdog, err := daemon.SdWatchdogEnabled(true)
	if err != nil {
		log.Warn("ignoring the watchdog settings", "err", err)
	}
	notify := sdnotify.New()
	// A nil *Notifier must not become a non-nil interface.
	var notifier broker.Notifier
	var store broker.FDStore
	if notify != nil {
		notifier, store = notify, notify
	}
	if len(set.Stored) > 0 {
		// They are ours now: the store must not hand them out again.
		if err := notify.RemoveFDs(sockets.StoredConn); err != nil {
			log.Warn("cannot clear the fd store", "err", err)
		}
	}
	b := broker.New(broker.Config{
		Site:     s,
		Sockets:  socks,
		Spawner:  broker.ProcessSpawner{Spawner: proc.Spawner{Shim: self, Journal: lg.journal, Output: lg.output}},
		Notify:   notifier,
		Log:      log,
		Stdout:   os.Stdout,
		Stderr:   os.Stderr,
		Load:     load,
		CanExit:  set.FromSystemd,
		Store:    store,
		Pending:  set.Stored,
		Watchdog: watchdog,
	})
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	ctl, err := control.Listen(rtDir, s.Name)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		ctl.Serve(ctx, func(ctx context.Context, cmd string) error {
			switch cmd {
			case control.Reload:
				return b.Reload(ctx)
			case control.ReloadAsync:
				wg.Go(func() { reloadLogged(ctx, b, log) })
				return nil
			}
			return fmt.Errorf("unknown command %q", cmd)
		})
	})
	if conn, err := busapi.Connect(); err != nil {
		log.Info("not on D-Bus", "event", broker.EventNotice, "err", err)
	} else {
		defer conn.Close()
		// Exporting reads the status, which the running broker answers.
		wg.Go(func() {
			srv, err := busapi.Export(conn, s.Name, brokerSite{b, s})
			if err != nil {
				log.Warn("cannot put the site on D-Bus", "event", broker.EventNotice, "err", err)
				return
			}
			tee.SetServer(srv)
			srv.Run(ctx)
		})
	}
	if s.Status != nil {
		site := brokerSite{b, s}
		wg.Go(func() {
			err := servePage(ctx, *s.Status, rtDir, func(ctx context.Context) ([]busapi.Status, error) {
				st, err := site.Status(ctx)
				return []busapi.Status{st}, err
			}, log)
			if err != nil {
				log.Error("no status page", "event", broker.EventNotice, "err", err)
			}
		})
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGUSR1)
	defer signal.Stop(sigs)
	wg.Go(func() {
		for {
			select {
			case sig := <-sigs:
				if sig == syscall.SIGHUP {
					reloadLogged(ctx, b, log)
					continue
				}
				if lg.reopen == nil {
					log.Info("SIGUSR1: no log file to reopen", "site", s.Name)
				} else if err := lg.reopen(); err != nil {
					log.Error("cannot reopen the log file", "site", s.Name, "err", err)
				} else {
					log.Info("reopened the log file", "site", s.Name)
				}
			case <-ctx.Done():
				return
			}
		}
	})
	if child {
		if err := daemonStarted(); err != nil {
			return err
		}
	}
	err = b.Run(ctx)
	stop()
	wg.Wait()
	if errors.Is(err, broker.ErrStopTimeout) {
		log.Warn("stopped; some workers had to be killed", "site", s.Name)
	}
	return err
}

// brokerSite shows a broker on D-Bus.
type brokerSite struct {
	b    *broker.Broker
	site *config.Site
}

func (s brokerSite) Status(ctx context.Context) (busapi.Status, error) {
	st := s.b.Stats()
	out := busapi.Status{
		Site: s.site.Name, Mode: string(s.site.Mode), State: st.State, Generation: uint32(st.Generation),
		Accepted: st.Accepted, Served: st.Served, Active: uint32(st.Active), Queued: uint32(st.Queued),
		Shed: st.Shed, Failed: st.Failed, Restarts: st.Restarts, Breaker: st.Breaker, LastError: st.LastErr,
	}
	ws, err := s.b.Workers(ctx)
	if err != nil && !errors.Is(err, broker.ErrStopped) {
		return out, err
	}
	for _, w := range ws {
		out.Workers = append(out.Workers, busapi.Worker{
			Pid: uint32(w.Pid), State: w.State, Served: w.Served,
			Started: uint64(w.Started.UnixMicro()), RSS: uint64(w.RSS),
		})
	}
	return out, nil
}

func (s brokerSite) Reload(ctx context.Context) error { return s.b.Reload(ctx) }
func (s brokerSite) SetPool(ctx context.Context, minIdle, max int) error {
	return s.b.SetPool(ctx, minIdle, max)
}
func (s brokerSite) Drain(ctx context.Context) error { return s.b.Drain(ctx) }

// reloadLogged reloads and logs a failure (the broker logs success).
func reloadLogged(ctx context.Context, b *broker.Broker, log *slog.Logger) {
	if err := b.Reload(ctx); err != nil && !errors.Is(err, broker.ErrStopped) && ctx.Err() == nil {
		log.Error("reload failed", "err", err)
	}
}

// exConfig is EX_CONFIG (sysexits.h): the generated unit's
// RestartPreventExitStatus=, so that a configuration error is not
// restarted in a loop.
const exConfig = 78

// exitError carries a specific exit status to main.
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string { return e.err.Error() }
func (e exitError) Unwrap() error { return e.err }

// runtimeDir is where relative unix socket paths and the control socket
// live: $XDG_RUNTIME_DIR, as systemd's %t in a user manager. Without it,
// /tmp/zsm-UID, which must be a directory of ours that nobody else can
// write to (anyone can create a name in /tmp first).
func runtimeDir() (string, error) {
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return d, nil
	}
	d := filepath.Join(os.TempDir(), fmt.Sprintf("zsm-%d", os.Getuid()))
	if err := os.Mkdir(d, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return "", err
	}
	var st syscall.Stat_t
	if err := syscall.Lstat(d, &st); err != nil {
		return "", err
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFDIR || int(st.Uid) != os.Getuid() || st.Mode&0o077 != 0 {
		return "", fmt.Errorf("%s is not a private directory of this user (owner %d, mode %o); set XDG_RUNTIME_DIR", d, st.Uid, st.Mode&0o7777)
	}
	return d, nil
}
