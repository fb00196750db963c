package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/coreos/go-systemd/v22/daemon"

	"github.com/zsm-dev/zsm/broker"
	"github.com/zsm-dev/zsm/internal/config"
	"github.com/zsm-dev/zsm/internal/config/hclconfig"
	"github.com/zsm-dev/zsm/internal/control"
	"github.com/zsm-dev/zsm/internal/proc"
	"github.com/zsm-dev/zsm/internal/sdnotify"
	"github.com/zsm-dev/zsm/internal/sockets"
)

func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	site := fs.String("site", "", "the site to run (a site block's name)")
	cfgPath := fs.String("config", os.Getenv("ZSM_CONFIG"), "the configuration file (default $ZSM_CONFIG)")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if *site == "" || *cfgPath == "" || fs.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: zsm serve --site NAME [--config FILE]")
		return errUsage
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))

	f, err := hclconfig.Load(*cfgPath)
	if err != nil {
		return err
	}
	s := f.Site(*site)
	if s == nil {
		return fmt.Errorf("%s has no site %q", f.Path, *site)
	}
	if err := os.MkdirAll(runtimeDir(), 0o700); err != nil {
		return err
	}
	set, err := sockets.Open(s, runtimeDir(), sockets.OSEnv)
	if err != nil {
		return err
	}
	defer set.Close()
	if set.FromSystemd {
		log.Info("using the sockets systemd passed", "site", s.Name, "sockets", len(set.Sockets))
	} else {
		log.Info("no sockets passed by systemd: bound them", "site", s.Name, "sockets", len(set.Sockets))
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
	b := broker.New(broker.Config{
		Site:     s,
		Sockets:  socks,
		Spawner:  broker.ProcessSpawner{Spawner: proc.Spawner{Shim: self}},
		Notify:   notifier(),
		Log:      log,
		Stdout:   os.Stdout,
		Stderr:   os.Stderr,
		Load:     load,
		CanExit:  set.FromSystemd,
		Watchdog: watchdog,
	})
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	ctl, err := control.Listen(runtimeDir(), s.Name)
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
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	wg.Go(func() {
		for {
			select {
			case <-hup:
				reloadLogged(ctx, b, log)
			case <-ctx.Done():
				return
			}
		}
	})
	err = b.Run(ctx)
	stop()
	wg.Wait()
	if errors.Is(err, broker.ErrStopTimeout) {
		log.Warn("stopped; some workers had to be killed", "site", s.Name)
	}
	return err
}

// reloadLogged reloads and logs a failure (the broker logs success).
func reloadLogged(ctx context.Context, b *broker.Broker, log *slog.Logger) {
	if err := b.Reload(ctx); err != nil && !errors.Is(err, broker.ErrStopped) && ctx.Err() == nil {
		log.Error("reload failed", "err", err)
	}
}

// notifier returns the sd_notify adapter, or nil off systemd: a typed nil
// must not reach the broker's interface.
func notifier() broker.Notifier {
	if n := sdnotify.New(); n != nil {
		return n
	}
	return nil
}

// runtimeDir is where relative unix socket paths live: $XDG_RUNTIME_DIR,
// as systemd's %t in a user manager.
func runtimeDir() string {
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return d
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("zsm-%d", os.Getuid()))
}
