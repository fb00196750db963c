package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"syscall"
)

// serveOptions are the flags of `zsm serve`.
type serveOptions struct {
	site      string
	config    string
	pidfile   string // relative: to the runtime directory
	ifStopped bool
	detach    bool
	log       logDest
}

func parseServe(args []string) (serveOptions, error) {
	var o serveOptions
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.StringVar(&o.site, "site", "", "the site to run (a site block's name)")
	fs.StringVar(&o.config, "config", os.Getenv("ZSM_CONFIG"), "the configuration file (default $ZSM_CONFIG)")
	fs.StringVar(&o.pidfile, "pidfile", "", "keep a pid file here, relative to $XDG_RUNTIME_DIR (else /tmp/zsm-UID); refuse to start when a running broker holds it")
	fs.BoolVar(&o.ifStopped, "if-stopped", false, "with --pidfile: when a broker runs already, exit 0 quietly (for cron)")
	fs.BoolVar(&o.detach, "daemon", false, "detach, and return once the broker is up (without systemd)")
	logFlag := fs.String("log", "auto", logUsage)
	if err := fs.Parse(args); err != nil {
		return o, errUsage
	}
	if o.site == "" || o.config == "" || fs.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: zsm serve --site NAME [--config FILE] [--pidfile FILE [--if-stopped]] [--daemon] [--log DEST]")
		return o, errUsage
	}
	var err error
	o.log, err = parseLogDest(*logFlag)
	return o, err
}

// daemonArgs are the arguments of the detached child that runs the
// broker: the same, with absolute paths (the child starts in /).
func (o serveOptions) daemonArgs() ([]string, error) {
	cfg, err := filepath.Abs(o.config)
	if err != nil {
		return nil, err
	}
	args := []string{"serve", "--site", o.site, "--config", cfg, "--log", o.log.String()}
	if o.pidfile != "" {
		args = append(args, "--pidfile", o.pidfile)
	}
	if o.ifStopped {
		args = append(args, "--if-stopped")
	}
	return args, nil
}

// serve is `zsm serve`: one site's broker, until SIGTERM or SIGINT.
func serve(args []string) error {
	o, err := parseServe(args)
	if err != nil {
		return err
	}
	child := os.Getenv(daemonEnv) != ""
	os.Unsetenv(daemonEnv)
	if o.detach && !child {
		args, err := o.daemonArgs()
		if err != nil {
			return err
		}
		return daemonize(args)
	}
	stopProfile, err := profile()
	if err != nil {
		return err
	}
	defer stopProfile()
	srv, err := newServer(o, child, os.Environ())
	if errors.Is(err, errRunning) {
		return nil // --if-stopped, and a broker runs
	}
	if err != nil {
		return err
	}
	defer srv.close()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return srv.Run(ctx)
}

// profile writes the broker's own CPU profile to $ZSM_CPUPROFILE, when
// set, until the returned func is called: for `go run ./bench -pprof DIR`
// (the daemon child's, not its parent's; not the workers').
func profile() (stop func(), err error) {
	path := os.Getenv("ZSM_CPUPROFILE")
	if path == "" {
		return func() {}, nil
	}
	os.Unsetenv("ZSM_CPUPROFILE")
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// exConfig is EX_CONFIG (sysexits.h): the broker cannot serve the site as
// configured (no configuration, or sockets that do not match it). The
// generated unit restarts it a second later, until that is mended; rc
// scripts and cron report it.
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
