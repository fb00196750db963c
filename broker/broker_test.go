package broker

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zsm-dev/zsm/internal/config"
	"github.com/zsm-dev/zsm/internal/event"
	"github.com/zsm-dev/zsm/internal/loadgen"
	"github.com/zsm-dev/zsm/internal/proc"
	"github.com/zsm-dev/zsm/internal/sockets"
)

// testSite is a site on a fresh loopback port whose workers are this test
// binary playing kind.
func testSite(t testing.TB, mode config.Mode, kind string) *config.Site {
	t.Helper()
	s := config.Default()
	s.Name = "t"
	s.Listen = []config.Address{{Net: config.NetTCP, Host: "127.0.0.1", Port: freePort(t)}}
	s.Mode, s.Protocol = mode, config.HTTP
	s.Command = []string{os.Args[0]}
	s.Directory = t.TempDir()
	s.Environment = map[string]string{"ZSM_TEST_WORKER": kind}
	s.Pool = config.Pool{MinIdle: 1, Max: 4, Queue: 256}
	s.Timeouts.Start, s.Timeouts.Stop = 10*time.Second, 5*time.Second
	if mode == config.Proxy {
		s.Backend = &config.Backend{Address: "127.0.0.1:{port}", Ports: []int{freePort(t), freePort(t)}}
	}
	return &s
}

// running is a broker under test.
type running struct {
	b    *Broker
	addr string
	log  *logBuffer
	stop func() error
}

// start runs a broker for s; the test's cleanup stops it and checks that
// Run returned and no fd leaked.
func start(t testing.TB, s *config.Site, tune func(*Config)) *running {
	t.Helper()
	fdsBefore := openFDs(t)
	set, err := sockets.Bind(s, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	socks := make([]Socket, len(set.Sockets))
	for i, sk := range set.Sockets {
		socks[i] = Socket{Addr: sk.Addr, File: sk.File}
	}
	lb := &logBuffer{}
	cfg := Config{
		Site:    s,
		Sockets: socks,
		Spawner: ProcessSpawner{proc.Spawner{Shim: os.Args[0]}},
		Events:  event.Slog(slog.NewTextHandler(lb, nil)),
		Env:     os.Environ(),
		Stderr:  lb,
		Tick:    20 * time.Millisecond,
	}
	if tune != nil {
		tune(&cfg)
	}
	b := New(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	var once sync.Once
	var runErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("Run did not return after its context ended")
			}
			set.Close()
		})
		return runErr
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("broker log:\n%s", lb.String())
		}
		// The runtime's poller and test plumbing settle asynchronously.
		eventually(t, 5*time.Second, "fds back to the count before the broker", func() bool {
			// io.Copy's splice pipes are pooled and closed by finalizers.
			runtime.GC()
			return openFDs(t) <= fdsBefore
		})
	})
	return &running{b: b, addr: s.Listen[0].String(), log: lb, stop: stop}
}

// logBuffer collects the broker's log and the workers' stderr.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// get makes one request on a new connection and returns status and body.
func get(addr, path string) (int, string, error) {
	return loadgen.Get("tcp", addr, path)
}

func TestLazyStartHandoff(t *testing.T) {
	r := start(t, testSite(t, config.Handoff, "http"), nil)
	if st := r.b.Stats(); st.Workers != 0 || st.State != "cold" {
		t.Fatalf("before any connection: %+v, want no worker", st)
	}
	code, body, err := get(r.addr, "/")
	if err != nil || code != 200 || !strings.HasPrefix(body, "hello from ") {
		t.Fatalf("first request: %d %q %v", code, body, err)
	}
	eventually(t, 5*time.Second, "the served count", func() bool { return r.b.Stats().Served == 1 })
	if err := r.stop(); err != nil {
		t.Errorf("Run: %v", err)
	}
}

func TestColdBurst(t *testing.T) {
	for _, mode := range []config.Mode{config.Handoff, config.Listen, config.Proxy} {
		t.Run(string(mode), func(t *testing.T) {
			kind := map[config.Mode]string{config.Handoff: "http", config.Listen: "listen", config.Proxy: "backend"}[mode]
			r := start(t, testSite(t, mode, kind), nil)
			const n = 200
			errs := make(chan error, n)
			var wg sync.WaitGroup
			for range n {
				wg.Go(func() {
					code, body, err := get(r.addr, "/")
					if err == nil && (code != 200 || !strings.HasPrefix(body, "hello from ")) {
						err = fmt.Errorf("got %d %q", code, body)
					}
					errs <- err
				})
			}
			wg.Wait()
			close(errs)
			failed := 0
			for err := range errs {
				if err != nil {
					failed++
					if failed < 5 {
						t.Error(err)
					}
				}
			}
			if failed > 0 {
				t.Fatalf("%d of %d connections failed against a cold site", failed, n)
			}
			if err := r.stop(); err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
}

func TestPoolGrowsAndShrinks(t *testing.T) {
	s := testSite(t, config.Handoff, "http")
	s.Environment["ZSM_TEST_SLOTS"] = "1"
	s.Pool = config.Pool{MinIdle: 1, Max: 4, Queue: 256}
	r := start(t, s, func(c *Config) { c.ShrinkAfter = 200 * time.Millisecond })

	// 8 clients each holding a worker's only slot for a while.
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if code, _, err := get(r.addr, "/?ms=300"); err != nil || code != 200 {
				t.Errorf("request under load: %d %v", code, err)
			}
		})
	}
	maxSeen := 0
	eventually(t, 10*time.Second, "the pool to grow to max", func() bool {
		maxSeen = max(maxSeen, r.b.Stats().Workers)
		return maxSeen == s.Pool.Max
	})
	wg.Wait()
	if st := r.b.Stats(); st.Workers > s.Pool.Max {
		t.Errorf("%d workers, above max %d", st.Workers, s.Pool.Max)
	}
	eventually(t, 10*time.Second, "the pool to shrink back to min_idle", func() bool {
		st := r.b.Stats()
		return st.Workers == s.Pool.MinIdle && st.Ready == s.Pool.MinIdle
	})
	if st := r.b.Stats(); st.Served != 8 || st.Shed != 0 {
		t.Errorf("served %d shed %d, want 8 and 0", st.Served, st.Shed)
	}
}

func TestQueueLimitSheds(t *testing.T) {
	s := testSite(t, config.Handoff, "http")
	s.Environment["ZSM_TEST_SLOTS"] = "1"
	s.Pool = config.Pool{MinIdle: 1, Max: 1, Queue: 2}
	r := start(t, s, nil)
	if code, _, err := get(r.addr, "/"); err != nil || code != 200 {
		t.Fatalf("warm-up: %d %v", code, err)
	}
	eventually(t, 5*time.Second, "the warm-up's DONE", func() bool { return r.b.Stats().Served == 1 })
	// One busy worker, two waiting, the rest shed with a 503.
	const n = 8
	codes := make(chan int, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			code, body, err := get(r.addr, "/?ms=500")
			if err != nil {
				t.Errorf("request: %v", err)
			}
			if code == 503 && !strings.Contains(body, "queue limit") {
				t.Errorf("503 body %q does not say why", body)
			}
			codes <- code
		})
	}
	wg.Wait()
	close(codes)
	count := map[int]int{}
	for c := range codes {
		count[c]++
	}
	if count[503] == 0 || count[200] < 3 || count[200]+count[503] != n {
		t.Errorf("responses %v: want some 200s (1 busy + 2 queued at least) and the rest 503", count)
	}
	if st := r.b.Stats(); st.Shed != uint64(count[503]) {
		t.Errorf("shed counter %d, clients saw %d 503s", st.Shed, count[503])
	}
}

func TestStartFailureIsExplicit(t *testing.T) {
	tests := []struct {
		name, kind string
		command    []string
		want       string
	}{
		{"missing command", "http", []string{"./no-such-app"}, "cannot start ./no-such-app"},
		{"exits at once", "crash", nil, "exited with status 1 before it was ready"},
		{"never ready", "silent", nil, "was not ready within"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := testSite(t, config.Handoff, tt.kind)
			s.Timeouts.Start = time.Second
			if tt.command != nil {
				s.Command = tt.command
			}
			r := start(t, s, nil)
			code, body, err := get(r.addr, "/")
			if err != nil || code != 503 || !strings.Contains(body, tt.want) || !strings.Contains(body, `site "t"`) {
				t.Fatalf("got %d %q %v; want a 503 saying %q", code, body, err, tt.want)
			}
			eventually(t, 5*time.Second, "LastErr to say "+tt.want, func() bool {
				return strings.Contains(r.b.Stats().LastErr, tt.want)
			})
		})
	}
}

func TestMalformedWorkerIsStopped(t *testing.T) {
	s := testSite(t, config.Handoff, "garbage")
	s.Timeouts.Start = 2 * time.Second
	r := start(t, s, nil)
	code, _, err := get(r.addr, "/")
	if err != nil || code != 503 {
		t.Fatalf("got %d %v; want 503 from a site whose workers only send garbage", code, err)
	}
	if !strings.Contains(r.log.String(), "broke the protocol") {
		t.Errorf("no protocol error logged:\n%s", r.log.String())
	}
	if err := r.stop(); err != nil {
		t.Errorf("Run: %v", err)
	}
}

func TestStatsLine(t *testing.T) {
	st := Stats{Workers: 4, Busy: 1, Queued: 0, Served: 1203}
	if got, want := st.StatusLine(), "4 workers, 1 busy, 0 queued, 1203 served"; got != want {
		t.Errorf("StatusLine() = %q, want %q", got, want)
	}
	st = Stats{LastErr: "cannot start ./x: no such file or directory"}
	if got := st.StatusLine(); !strings.Contains(got, "cannot start") {
		t.Errorf("StatusLine() = %q: no reason while nothing is ready", got)
	}
}

// TestLoopOnOneP: a broker given a single P (GOMAXPROCS is the caller's
// to decide) waits through the runtime rather than holding it, so that its
// other goroutines — status calls, process waiters — run while it waits.
func TestLoopOnOneP(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	r := start(t, testSite(t, config.Proxy, "backend"), nil)
	if code, body, err := get(r.addr, "/"); err != nil || code != 200 {
		t.Fatalf("request: %d %q %v", code, body, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, err := r.b.Workers(ctx)
	if err != nil || len(ws) == 0 {
		t.Errorf("Workers on one P: %v, %v", ws, err)
	}
	if st := r.b.Stats(); st.Ready == 0 {
		t.Errorf("stats %+v; want a ready backend", st)
	}
}
