package broker

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/zsm-dev/zsm/internal/config"
	"github.com/zsm-dev/zsm/internal/loadgen"
	"github.com/zsm-dev/zsm/internal/proc"
)

// stopWorkers SIGSTOPs the broker's ready workers, all of them or all but
// one, and returns their pids; the test's cleanup lets them run again.
func stopWorkers(t *testing.T, r *running, spare bool) []int {
	t.Helper()
	ws, err := r.b.Workers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var stopped []int
	for i, w := range ws {
		if spare && i == 0 {
			continue
		}
		if err := syscall.Kill(w.Pid, syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		stopped = append(stopped, w.Pid)
	}
	t.Cleanup(func() {
		for _, pid := range stopped {
			syscall.Kill(pid, syscall.SIGCONT)
		}
	})
	eventually(t, 5*time.Second, "the workers stopped", func() bool {
		return !slices.ContainsFunc(stopped, func(pid int) bool { return !proc.Stopped(pid) })
	})
	return stopped
}

// warm starts the pool with a request and waits until it has n ready
// workers and no other.
func warm(t *testing.T, r *running, n int) {
	t.Helper()
	if code, _, err := get(r.addr, "/"); err != nil || code != 200 {
		t.Fatalf("warm-up: %d %v", code, err)
	}
	eventually(t, 10*time.Second, fmt.Sprintf("%d ready workers", n), func() bool {
		st := r.b.Stats()
		return st.Ready == n && st.Workers == n
	})
}

// loadOf runs n requests from c clients at once, each with its own
// connection and a deadline, and counts what failed.
func loadOf(addr string, n, c int, limit time.Duration) (failed int, first string) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	jobs := make(chan int, n)
	for i := range n {
		jobs <- i
	}
	close(jobs)
	for range c {
		wg.Go(func() {
			for range jobs {
				code, _, err := loadgen.GetWithin("tcp", addr, "/", limit)
				if err != nil || code != 200 {
					mu.Lock()
					failed++
					if first == "" {
						first = fmt.Sprintf("%d %v", code, err)
					}
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	return failed, first
}

// A worker that stops taking connections (SIGSTOP) beside a healthy one:
// what it was handed and never read goes to the healthy worker, it gets no
// more, and it is replaced; no request fails.
func TestStuckWorkerBesideHealthy(t *testing.T) {
	s := testSite(t, config.Handoff, "http")
	s.Pool = config.Pool{MinIdle: 2, Max: 2, Queue: 256}
	r := start(t, s, nil)
	warm(t, r, 2)
	stuck := stopWorkers(t, r, true)

	if failed, first := loadOf(r.addr, 200, 8, 10*time.Second); failed > 0 {
		t.Fatalf("%d of 200 requests failed (first: %s)\n%s", failed, first, r.log.String())
	}
	eventually(t, 10*time.Second, "the stuck worker replaced", func() bool {
		ws, _ := r.b.Workers(context.Background())
		ready := 0
		for _, w := range ws {
			if w.Pid != stuck[0] && w.State == "ready" {
				ready++
			}
		}
		return ready == 2
	})
	if !strings.Contains(r.log.String(), "worker stopped taking connections") {
		t.Errorf("the stuck worker was not reported:\n%s", r.log.String())
	}
}

// Every worker stops taking connections: what they were handed and never
// read is taken back and served by their replacements.
func TestStuckEveryWorker(t *testing.T) {
	s := testSite(t, config.Handoff, "http")
	s.Pool = config.Pool{MinIdle: 1, Max: 1, Queue: 256}
	r := start(t, s, nil)
	warm(t, r, 1)
	stopWorkers(t, r, false)

	if failed, first := loadOf(r.addr, 40, 40, 10*time.Second); failed > 0 {
		t.Fatalf("%d of 40 requests failed (first: %s)\n%s", failed, first, r.log.String())
	}
	if !strings.Contains(r.log.String(), "reclaimed=") {
		t.Errorf("no connection was taken back from the stuck worker:\n%s", r.log.String())
	}
}

// A worker that closes its channel before it is ready has failed to
// start, at once: the waiting client hears why, without waiting for the
// start timeout.
func TestChannelClosedBeforeReady(t *testing.T) {
	s := testSite(t, config.Handoff, "closer")
	s.Timeouts.Start = 30 * time.Second
	r := start(t, s, nil)
	code, body, err := loadgen.GetWithin("tcp", r.addr, "/", 10*time.Second)
	if err != nil || code != 503 || !strings.Contains(body, "closed its channel before it was ready") {
		t.Errorf("got %d %q %v; want a 503 saying the app closed its channel", code, body, err)
	}
}

// Connections that wait in the broker for a worker have a deadline, even
// while the workers are ready: here the only worker holds its two slots
// and never answers. Those it holds are its own (a request timeout is the
// worker's matter); those waiting get the explicit failure.
func TestQueueDeadline(t *testing.T) {
	s := testSite(t, config.Handoff, "taker")
	s.Pool = config.Pool{MinIdle: 1, Max: 1, Queue: 64}
	s.Timeouts.Queue = time.Second
	r := start(t, s, nil)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var refused, hung int
	for range 6 {
		wg.Go(func() {
			code, body, err := loadgen.GetWithin("tcp", r.addr, "/", 5*time.Second)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case code == 503 && strings.Contains(body, "queue timeout"):
				refused++
			case err != nil:
				hung++
			default:
				t.Errorf("got %d %q %v", code, body, err)
			}
		})
	}
	wg.Wait()
	if refused != 4 || hung != 2 {
		t.Errorf("%d got the queue timeout's 503, %d waited on the worker; want 4 and 2", refused, hung)
	}
}

// A backend that takes connections and never answers: the client gets a
// 504 once first_byte has passed, and the broker goes on.
func TestBackendFirstByte(t *testing.T) {
	s := testSite(t, config.Proxy, "mute-backend")
	s.Timeouts.FirstByte = 500 * time.Millisecond
	r := start(t, s, nil)
	for range 3 {
		code, body, err := loadgen.GetWithin("tcp", r.addr, "/", 10*time.Second)
		if err != nil || code != 504 || !strings.Contains(body, "did not answer within 500ms") {
			t.Fatalf("got %d %q %v; want a 504 saying the backend did not answer", code, body, err)
		}
	}
	eventually(t, 5*time.Second, "3 shed, none active", func() bool {
		st := r.b.Stats()
		return st.Shed == 3 && st.Active == 0
	})
}
