package broker

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zsm-dev/zsm/internal/config"
	"golang.org/x/sys/unix"
)

// TestBreaker: an app that keeps crashing opens the breaker (clients get a
// 503 saying why, at once), and once the app works again the breaker closes
// by itself.
func TestBreaker(t *testing.T) {
	s := testSite(t, config.Handoff, "flaky")
	broken := filepath.Join(t.TempDir(), "broken")
	if err := os.WriteFile(broken, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	s.Environment["ZSM_TEST_BROKEN"] = broken
	r := start(t, s, nil)

	// Each request starts a worker that dies: after breakerAfter in a row
	// the breaker opens.
	eventually(t, 20*time.Second, "the breaker to open", func() bool {
		code, body, err := get(r.addr, "/")
		if err == nil && code != 503 {
			t.Fatalf("a crashing app answered %d %q", code, body)
		}
		return r.b.Stats().Breaker != "closed"
	})
	st := r.b.Stats()
	if st.State != "failing" || !strings.Contains(st.StatusLine(), "failing: ") {
		t.Errorf("state %q, status %q: want failing, with the reason", st.State, st.StatusLine())
	}
	code, body, err := get(r.addr, "/")
	if err != nil || code != 503 || !strings.Contains(body, "keeps failing") || !strings.Contains(body, "exited with status 1") {
		t.Errorf("with the breaker open: %d %q %v; want a 503 that says why", code, body, err)
	}

	// Fix the app: the next retry works, the breaker closes, no one acts.
	if err := os.Remove(broken); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the site to serve again", func() bool {
		code, _, err := get(r.addr, "/")
		return err == nil && code == 200
	})
	eventually(t, 5*time.Second, "the breaker to close", func() bool { return r.b.Stats().Breaker == "closed" })
}

// TestCrashReplaced: a worker that dies is replaced, and connections still
// waiting in the broker go to another worker.
func TestCrashReplaced(t *testing.T) {
	s := testSite(t, config.Handoff, "http")
	s.Pool = config.Pool{MinIdle: 1, Max: 1, Queue: 64}
	r := start(t, s, nil)
	code, body, err := get(r.addr, "/")
	if err != nil || code != 200 {
		t.Fatalf("warm-up: %d %v", code, err)
	}
	pid := pidOf(t, body)
	if err := syscallKill(pid); err != nil {
		t.Fatal(err)
	}
	// A connection handed over in the instant before it died is inside the
	// dead process; from when the broker sees the exit, none is lost.
	eventually(t, 5*time.Second, "the broker to see the crash", func() bool { return r.b.Stats().Restarts == 1 })
	code, body, err = get(r.addr, "/")
	if err != nil || code != 200 || pidOf(t, body) == pid {
		t.Fatalf("after the crash: %d %q %v; want an answer from a new worker", code, body, err)
	}
	st := r.b.Stats()
	if st.Restarts != 1 || st.Breaker != "closed" {
		t.Errorf("restarts %d, breaker %s; want 1 and closed", st.Restarts, st.Breaker)
	}
	if !strings.Contains(r.log.String(), "killed by SIGKILL") {
		t.Error("the crash's signal is not logged")
	}
}

// TestBackoffSchedule: with an injected clock, failures in a row delay the
// next spawn 100ms, 200ms, 400ms ... up to maxBackoff, the breaker opens at
// breakerAfter, and a worker that proves itself resets it all.
func TestBackoffSchedule(t *testing.T) {
	p := testPool(t, &config.Site{Name: "t", Mode: config.Handoff})
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	want := []time.Duration{100, 200, 400, 800, 1600, 3200, 6400, 10000, 10000}
	for i, ms := range want {
		p.backoff(now)
		if got := p.nextSpawn.Sub(now); got != ms*time.Millisecond {
			t.Errorf("failure %d: next spawn after %s, want %dms", i+1, got, ms)
		}
		if open := p.breakerOpen(); open != (i+1 >= breakerAfter) {
			t.Errorf("failure %d: breaker open %v", i+1, open)
		}
		if p.canSpawn(now) || !p.canSpawn(now.Add(ms*time.Millisecond)) {
			t.Errorf("failure %d: canSpawn does not follow the backoff", i+1)
		}
	}
	if p.breakerState() != "open" {
		t.Errorf("breaker %s, want open", p.breakerState())
	}
	p.proven(&worker{})
	if p.breakerOpen() || !p.canSpawn(now) || p.breakerState() != "closed" {
		t.Error("a worker that proved itself did not close the breaker")
	}
}

// TestQueueOutlivesStartingWorker: the first connection is queued a moment
// before the worker it starts, so at the tick where it has waited the
// start timeout that worker is not yet late. The client must still hear
// that the app was not ready, not a vaguer reason.
func TestQueueOutlivesStartingWorker(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	client := os.NewFile(uintptr(fds[0]), "client")
	t0 := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	limit := time.Second
	p := testPool(t, &config.Site{Name: "t", Mode: config.Handoff, Command: []string{"./app"}, Protocol: config.HTTP, Timeouts: config.Timeouts{Start: limit}})
	p.workers = []*worker{{state: wStarting, started: t0.Add(3 * time.Millisecond)}}
	p.queue = []*pending{{sock: own(fds[1]), at: t0}}
	p.expire(t0.Add(limit + time.Millisecond))
	got, _ := io.ReadAll(client)
	client.Close()
	p.wg.Wait()
	if want := "./app was not ready within 1s"; !strings.Contains(string(got), want) {
		t.Errorf("the client got %q; want a 503 saying %q", got, want)
	}
	if p.workers[0].state != wStarting {
		t.Error("the worker was killed before its own start timeout")
	}
}

// testPool is a pool for site that runs nothing: for tests of its parts.
func testPool(t testing.TB, site *config.Site) *pool {
	t.Helper()
	m, err := newMode(site)
	if err != nil {
		t.Fatal(err)
	}
	p := &pool{b: New(Config{Site: site}), site: site, m: m, traits: m.traits()}
	if p.relay, err = newRelay(p); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.relay.close)
	return p
}
