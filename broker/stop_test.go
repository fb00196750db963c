package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/zsm-dev/zsm/internal/config"
	"github.com/zsm-dev/zsm/internal/event"
	"github.com/zsm-dev/zsm/internal/loadgen"
	"github.com/zsm-dev/zsm/internal/proc"
	"github.com/zsm-dev/zsm/internal/sockets"
)

// TestStopKillsStubbornWorker: a worker that ignores SIGTERM is killed after
// the stop timeout, and Run says so (zsm then exits 1).
func TestStopKillsStubbornWorker(t *testing.T) {
	for _, mode := range []config.Mode{config.Handoff, config.Listen} {
		t.Run(string(mode), func(t *testing.T) {
			s := testSite(t, mode, "stubborn")
			out := filepath.Join(t.TempDir(), "info.json")
			s.Environment["ZSM_TEST_OUT"] = out
			s.Eager = true
			s.Timeouts.Stop = time.Second
			s.Pool = config.Pool{MinIdle: 1, Max: 1, Queue: 16}
			r := start(t, s, nil)
			readInfo(t, out)
			began := time.Now()
			err := r.stop()
			if !errors.Is(err, ErrStopTimeout) {
				t.Errorf("Run: %v, want ErrStopTimeout", err)
			}
			if took := time.Since(began); took < s.Timeouts.Stop {
				t.Errorf("stopped after %s, before the stop timeout %s", took, s.Timeouts.Stop)
			}
			if !strings.Contains(r.log.String(), "killed by SIGKILL") {
				t.Errorf("the worker was not killed:\n%s", r.log.String())
			}
		})
	}
}

// brokerOn runs one broker on socks until its context ends or it returns by
// itself; the caller owns the sockets, as systemd does.
func brokerOn(t *testing.T, s *config.Site, socks []Socket, canExit bool) (stop func() error, done <-chan error) {
	t.Helper()
	lb := &logBuffer{}
	b := New(Config{
		Site:    s,
		Sockets: socks,
		Spawner: ProcessSpawner{proc.Spawner{Shim: os.Args[0]}},
		Events:  event.Slog(slog.NewTextHandler(lb, nil)),
		Env:     os.Environ(),
		Stderr:  lb,
		Tick:    20 * time.Millisecond,
		CanExit: canExit,
	})
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan error, 1)
	finished := make(chan struct{})
	var runErr error
	go func() {
		runErr = b.Run(ctx)
		close(finished)
		ch <- runErr
	}()
	wait := func() error {
		cancel()
		<-finished
		return runErr
	}
	t.Cleanup(func() {
		wait()
		if t.Failed() {
			t.Logf("broker log:\n%s", lb.String())
		}
	})
	return wait, ch
}

// heldSockets binds the site's sockets for a sequence of brokers.
func heldSockets(t *testing.T, s *config.Site) []Socket {
	t.Helper()
	set, err := sockets.Bind(s, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { set.Close() })
	socks := make([]Socket, len(set.Sockets))
	for i, sk := range set.Sockets {
		socks[i] = Socket{Addr: sk.Addr, File: sk.File}
	}
	return socks
}

// TestRestartUnderLoad: stopping the broker and starting the next one on the
// same sockets (what `systemctl restart` does with the socket unit holding
// them) fails no request: the stopping broker serves what it accepted and
// its workers finish what they hold; new connections wait in the kernel
// queue for the next broker.
func TestRestartUnderLoad(t *testing.T) {
	for _, mode := range []config.Mode{config.Handoff, config.Listen, config.Proxy} {
		t.Run(string(mode), func(t *testing.T) {
			kind := map[config.Mode]string{config.Handoff: "http", config.Listen: "listen", config.Proxy: "backend"}[mode]
			s := testSite(t, mode, kind)
			s.Pool = config.Pool{MinIdle: 2, Max: 2, Queue: 1024}
			socks := heldSockets(t, s)
			addr := s.Listen[0].String()
			stop, _ := brokerOn(t, s, socks, false)
			if code, _, err := get(addr, "/"); err != nil || code != 200 {
				t.Fatalf("warm-up: %d %v", code, err)
			}
			load := loadgen.Start(addr, 6, 60*time.Second)
			for i := range 3 {
				base := load.OK()
				eventually(t, 10*time.Second, "requests served before the restart", func() bool { return load.OK() >= base+50 })
				if err := stop(); err != nil {
					t.Fatalf("restart %d: the old broker: %v", i+1, err)
				}
				stop, _ = brokerOn(t, s, socks, false)
			}
			base := load.OK()
			eventually(t, 10*time.Second, "requests served after the last restart", func() bool { return load.OK() >= base+50 })
			ok, failures := load.Stop()
			t.Logf("%s, across 3 restarts: %s", mode, loadgen.Summary(ok, failures))
			if len(failures) > 0 {
				t.Errorf("requests failed across restarts: %s", loadgen.Summary(ok, failures))
			}
		})
	}
}

// TestExitWhenIdle: with exit_when_idle the broker stops its workers and
// returns after idle_stop; the next connection waits in the kernel queue
// and is served by the next broker.
func TestExitWhenIdle(t *testing.T) {
	s := testSite(t, config.Handoff, "http")
	s.Pool = config.Pool{MinIdle: 1, Max: 2, Queue: 16, IdleStop: 300 * time.Millisecond, ExitWhenIdle: true}
	socks := heldSockets(t, s)
	addr := s.Listen[0].String()
	_, done := brokerOn(t, s, socks, true)
	if code, _, err := get(addr, "/"); err != nil || code != 200 {
		t.Fatalf("request: %d %v", code, err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the broker did not exit when idle")
	}
	// A connection arriving now waits for the next broker, as under systemd.
	type result struct {
		code int
		err  error
	}
	res := make(chan result, 1)
	go func() {
		code, _, err := get(addr, "/")
		res <- result{code, err}
	}()
	brokerOn(t, s, socks, true)
	if r := <-res; r.err != nil || r.code != 200 {
		t.Errorf("the connection after an idle exit: %d %v", r.code, r.err)
	}
}

// memStore is an FDStore that keeps duplicates, as systemd does.
type memStore struct {
	mu    sync.Mutex
	files []*os.File
}

func (m *memStore) StoreFD(name string, fd int) error {
	if name != StoredConn {
		return fmt.Errorf("stored as %q", name)
	}
	fd, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.files = append(m.files, os.NewFile(uintptr(fd), name))
	m.mu.Unlock()
	return nil
}

// TestStoreAtStop: connections still waiting when the stop timeout ends go
// to the fd store, and the next broker serves them.
func TestStoreAtStop(t *testing.T) {
	s := testSite(t, config.Handoff, "http")
	s.Environment["ZSM_TEST_SLOTS"] = "1"
	s.Pool = config.Pool{MinIdle: 1, Max: 1, Queue: 16}
	s.Timeouts.Stop = 2 * time.Second
	socks := heldSockets(t, s)
	addr := s.Listen[0].String()
	store := &memStore{}

	lb := &logBuffer{}
	b := New(Config{Site: s, Sockets: socks, Spawner: ProcessSpawner{proc.Spawner{Shim: os.Args[0]}},
		Events: event.Slog(slog.NewTextHandler(lb, nil)), Env: os.Environ(), Stderr: lb, Tick: 20 * time.Millisecond, Store: store})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()

	// One long request holds the only worker's only slot; three wait.
	type result struct {
		code int
		err  error
	}
	results := make(chan result, 4)
	ask := func(path string) {
		code, _, err := get(addr, path)
		results <- result{code, err}
	}
	go ask("/?ms=2500")
	eventually(t, 10*time.Second, "the long request to be in the worker", func() bool { return b.Stats().Busy == 1 })
	for range 3 {
		go ask("/")
	}
	eventually(t, 5*time.Second, "three connections queued", func() bool { return b.Stats().Queued == 3 })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("the stopping broker: %v\n%s", err, lb.String())
	}
	store.mu.Lock()
	stored := store.files
	store.mu.Unlock()
	if len(stored) != 3 {
		t.Fatalf("%d connections stored, want 3\n%s", len(stored), lb.String())
	}
	// The next broker gets them as systemd would pass them.
	nb := New(Config{Site: s, Sockets: socks, Spawner: ProcessSpawner{proc.Spawner{Shim: os.Args[0]}},
		Events: event.Slog(slog.NewTextHandler(lb, nil)), Env: os.Environ(), Stderr: lb, Tick: 20 * time.Millisecond, Pending: stored})
	ctx2, cancel2 := context.WithCancel(context.Background())
	done2 := make(chan error, 1)
	go func() { done2 <- nb.Run(ctx2) }()
	defer func() { cancel2(); <-done2 }()
	for range 4 {
		if r := <-results; r.err != nil || r.code != 200 {
			t.Errorf("a request across the restart: %d %v\n%s", r.code, r.err, lb.String())
		}
	}
}
