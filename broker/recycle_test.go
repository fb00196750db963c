package broker

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zsm-dev/zsm/internal/config"
)

func TestDueReason(t *testing.T) {
	now := time.Now()
	site := &config.Site{
		Pool:     config.Pool{MaxRequests: 10, MaxMemory: 64 << 20, MaxAge: time.Hour},
		Timeouts: config.Timeouts{Watchdog: time.Minute},
	}
	tests := []struct {
		name string
		w    worker
		want string
	}{
		{"fresh", worker{started: now, maxAge: time.Hour, lastPing: now}, ""},
		{"requests", worker{started: now, served: 10, lastPing: now}, "served max_requests (10)"},
		{"memory", worker{started: now, rss: 65 << 20, lastPing: now}, "resident memory 65M above max_memory (64M)"},
		{"age", worker{started: now.Add(-time.Hour), maxAge: time.Hour, lastPing: now}, "older than max_age (1h0m0s)"},
		{"watchdog", worker{started: now, lastPing: now.Add(-2 * time.Minute)}, "watchdog: no WATCHDOG=1 for 2m0s"},
	}
	for _, tt := range tests {
		if got := dueReason(site, &tt.w, now); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
	if got := dueReason(&config.Site{}, &worker{served: 1 << 40, rss: 1 << 40, started: now.Add(-1000 * time.Hour)}, now); got != "" {
		t.Errorf("with no limits: %q", got)
	}
}

func TestAgeLimitJitter(t *testing.T) {
	seen := map[time.Duration]bool{}
	for range 100 {
		d := ageLimit(time.Hour)
		if d > time.Hour || d < 54*time.Minute {
			t.Fatalf("ageLimit(1h) = %s: want within 10%% below", d)
		}
		seen[d] = true
	}
	if len(seen) < 50 {
		t.Errorf("only %d distinct limits in 100: no jitter", len(seen))
	}
	if ageLimit(0) != 0 {
		t.Error("no max_age must mean no limit")
	}
}

// recycled runs requests one after another until the answering pid has
// changed at least twice, then checks none failed and the pool never had
// no ready worker.
func recycled(t *testing.T, s *config.Site) {
	t.Helper()
	r := start(t, s, nil)
	pids := map[string]bool{}
	var mu sync.Mutex
	minReady := 1 << 30
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if st := r.b.Stats(); st.Spawned > 0 && st.Restarts == 0 {
					mu.Lock()
					if st.Ready > 0 || st.Served > 0 {
						minReady = min(minReady, st.Ready)
					}
					mu.Unlock()
				}
			}
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	n := 0
	for len(pids) < 3 && time.Now().Before(deadline) {
		code, body, err := get(r.addr, "/")
		if err != nil || code != 200 {
			t.Fatalf("request %d: %d %q %v", n, code, body, err)
		}
		pids[strings.TrimSpace(body)] = true
		n++
	}
	close(stop)
	wg.Wait()
	if len(pids) < 3 {
		t.Fatalf("%d requests answered by %d workers: not recycled", n, len(pids))
	}
	st := r.b.Stats()
	if st.Restarts != 0 || st.Failed != 0 || st.Shed != 0 {
		t.Errorf("restarts %d, failed %d, shed %d; want none", st.Restarts, st.Failed, st.Shed)
	}
	if minReady < 1 {
		t.Errorf("the pool had no ready worker while recycling")
	}
	t.Logf("%d requests, %d workers answered, %d spawned", n, len(pids), st.Spawned)
}

func TestRecycleMaxRequests(t *testing.T) {
	s := testSite(t, config.Handoff, "http")
	s.Pool = config.Pool{MinIdle: 1, Max: 2, Queue: 64, MaxRequests: 5}
	recycled(t, s)
}

func TestRecycleMaxMemory(t *testing.T) {
	s := testSite(t, config.Handoff, "leaky")
	s.Pool = config.Pool{MinIdle: 1, Max: 2, Queue: 64, MaxMemory: 96 << 20}
	recycled(t, s)
}

func TestRecycleMaxAge(t *testing.T) {
	s := testSite(t, config.Handoff, "http")
	s.Pool = config.Pool{MinIdle: 1, Max: 2, Queue: 64, MaxAge: 300 * time.Millisecond}
	recycled(t, s)
}

func TestRecycleProxy(t *testing.T) {
	s := testSite(t, config.Proxy, "backend")
	s.Pool = config.Pool{Queue: 64, MaxAge: 300 * time.Millisecond}
	recycled(t, s)
}
