package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/zsm-dev/zsm/internal/freeport"
)

// envMarker is set, with a value unique to the run, in the environment of
// every process the bench starts, so that close can find any that outlived
// their stop, however deep below the bench they were started.
const envMarker = "ZSM_BENCH_RUN"

// pollInterval is how often the bench checks a condition it waits for.
const pollInterval = 10 * time.Millisecond

// stopGrace is how long a server gets to exit after SIGTERM.
const stopGrace = 15 * time.Second

// A lab is one run's workbench: the module it measures, the binaries built
// from it, a temp dir for configs, logs and runtime dirs, and the
// processes started so far.
type lab struct {
	opts   options
	root   string // the module root
	bin    string // zsm, zsmgen and hello, built without -race
	dir    string // temp dir, removed by close
	marker string // envMarker's value
	log    io.Writer
	loader loader
	seq    int        // numbers log files and dirs
	procs  []*process // started and not stopped yet, in order
}

// newLab creates the temp dir and builds the binaries into it.
func newLab(ctx context.Context, opts options, root string, ld loader, log io.Writer) (*lab, error) {
	dir, err := os.MkdirTemp("", "zsm-bench-")
	if err != nil {
		return nil, fmt.Errorf("temp dir: %w", err)
	}
	var id [6]byte
	rand.Read(id[:])
	l := &lab{
		opts: opts, root: root, bin: filepath.Join(dir, "bin"), dir: dir,
		marker: hex.EncodeToString(id[:]), log: &syncWriter{w: log}, loader: ld,
	}
	fmt.Fprintf(log, "building zsm, zsm-exec, zsmgen and hello into %s\n", l.bin)
	// No VCS stamp: the binaries need none, and git refuses a tree owned by
	// another user. Static, as `make build` builds zsm.
	cmd := exec.CommandContext(ctx, "go", "build", "-buildvcs=false", "-o", l.bin+string(filepath.Separator),
		"./cmd/zsm", "./cmd/zsm-exec", "./cmd/zsmgen", "./contrib/workers/hello")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0") // as make build: static
	if out, err := cmd.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("go build in %s: %w\n%s", root, err, out)
	}
	return l, nil
}

// path returns a new name in the temp dir: prefix-N.ext ("" for a dir).
func (l *lab) path(prefix, ext string) string {
	l.seq++
	return filepath.Join(l.dir, fmt.Sprintf("%s-%d%s", prefix, l.seq, ext))
}

// binary is a built command's path.
func (l *lab) binary(name string) string { return filepath.Join(l.bin, name) }

// env is the environment of a process the bench starts: the bench's own
// without anything from a surrounding systemd or session, plus the run's
// marker and extra.
func (l *lab) env(extra ...string) []string {
	drop := map[string]bool{
		"LISTEN_FDS": true, "LISTEN_PID": true, "LISTEN_FDNAMES": true, "LISTEN_PIDFDID": true,
		"NOTIFY_SOCKET": true, "WATCHDOG_USEC": true, "WATCHDOG_PID": true, "ZSM_CONFIG": true,
		"XDG_RUNTIME_DIR": true, "DBUS_SESSION_BUS_ADDRESS": true, "ZSM_CPUPROFILE": true, envMarker: true,
		envInner: true,
	}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !drop[k] {
			env = append(env, kv)
		}
	}
	env = append(env, envMarker+"="+l.marker)
	return append(env, extra...)
}

// start starts a process that close stops if nobody did before.
func (l *lab) start(name string, argv []string, env []string, stopSig syscall.Signal) (*process, error) {
	p, err := startProcess(name, argv, env, l.path("log-"+sanitize(name), ".log"), stopSig, !l.opts.sessions)
	if err != nil {
		return nil, err
	}
	l.procs = append(l.procs, p)
	return p, nil
}

// stop stops p and forgets it.
func (l *lab) stop(p *process) error {
	for i, q := range l.procs {
		if q == p {
			l.procs = append(l.procs[:i], l.procs[i+1:]...)
			break
		}
	}
	return p.stop(stopGrace)
}

// close stops what still runs (newest first), kills any process of the run
// that outlived its stop, and removes the temp dir. It returns what went
// wrong: a process that had to be killed is a bug worth knowing.
func (l *lab) close() error {
	var errs []error
	for i := len(l.procs) - 1; i >= 0; i-- {
		if err := l.procs[i].stop(stopGrace); err != nil {
			errs = append(errs, err)
		}
	}
	l.procs = nil
	left, err := withEnv(envMarker + "=" + l.marker)
	if err != nil {
		errs = append(errs, err)
	}
	for _, pid := range left {
		exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		errs = append(errs, fmt.Errorf("process %d (%s) of this run still ran after its server stopped: killed", pid, exe))
		syscall.Kill(pid, syscall.SIGKILL)
	}
	if err := os.RemoveAll(l.dir); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// syncWriter serializes writes to w: progress lines come from more than
// one goroutine.
type syncWriter struct {
	mu sync.Mutex // guards w
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// freePort returns a loopback port that was free a moment ago, from below
// the ephemeral range so that no outgoing connection takes it first.
func freePort() (int, error) { return freeport.One() }

// eventually polls cond until it returns true or an error, for at most
// timeout.
func eventually(ctx context.Context, timeout time.Duration, what string, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		ok, err := cond()
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("waiting for %s: timed out after %v", what, timeout)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-t.C:
		}
	}
}

// sanitize keeps a name usable in a file name.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == ' ' {
			return '_'
		}
		return r
	}, s)
}
