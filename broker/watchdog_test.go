package broker

import (
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zsm-dev/zsm/internal/config"
)

// TestWorkerWatchdog: with timeouts.watchdog, workers built on activation
// ping and are kept; a worker that falls silent is replaced, the new one
// ready first.
func TestWorkerWatchdog(t *testing.T) {
	for _, mode := range []config.Mode{config.Handoff, config.Listen} {
		t.Run(string(mode)+"/pinging", func(t *testing.T) {
			kind := map[config.Mode]string{config.Handoff: "http", config.Listen: "listen"}[mode]
			s := testSite(t, mode, kind)
			s.Pool = config.Pool{MinIdle: 1, Max: 1, Queue: 16}
			s.Timeouts.Watchdog = 300 * time.Millisecond
			r := start(t, s, nil)
			_, body, err := get(r.addr, "/")
			if err != nil {
				t.Fatal(err)
			}
			first := pidOf(t, body)
			// Several watchdog intervals go by; the pinging worker stays.
			deadline := time.Now().Add(4 * s.Timeouts.Watchdog)
			for time.Now().Before(deadline) {
				_, body, err := get(r.addr, "/")
				if err != nil {
					t.Fatal(err)
				}
				if pid := pidOf(t, body); pid != first {
					t.Fatalf("a worker that pings was replaced (%d, then %d)", first, pid)
				}
			}
		})
	}
	t.Run("handoff/silent", func(t *testing.T) {
		s := testSite(t, config.Handoff, "mute")
		out := filepath.Join(t.TempDir(), "info.json")
		s.Environment["ZSM_TEST_OUT"] = out
		s.Eager = true
		s.Pool = config.Pool{MinIdle: 1, Max: 1, Queue: 16}
		s.Timeouts.Watchdog = 300 * time.Millisecond
		r := start(t, s, nil)
		info := readInfo(t, out)
		if got := envOf(info)["ZSM_WATCHDOG_USEC"]; got != "300000" {
			t.Errorf("ZSM_WATCHDOG_USEC=%q, want 300000", got)
		}
		eventually(t, 10*time.Second, "the silent worker replaced", func() bool {
			return strings.Contains(r.log.String(), "watchdog: no WATCHDOG=1")
		})
		eventually(t, 10*time.Second, "a second worker", func() bool { return r.b.Stats().Spawned >= 2 })
	})
}

// notifyRecorder is a Notifier that keeps what it was told.
type notifyRecorder struct {
	mu    sync.Mutex
	sends []string
}

func (n *notifyRecorder) Notify(state string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.sends = append(n.sends, state)
	return nil
}

func (n *notifyRecorder) count(state string) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	c := 0
	for _, s := range n.sends {
		if s == state {
			c++
		}
	}
	return c
}

// TestBrokerWatchdog: under WatchdogSec= the broker's loop keeps sending
// WATCHDOG=1 at half the interval, and READY=1 / STOPPING=1 around its life.
func TestBrokerWatchdog(t *testing.T) {
	n := &notifyRecorder{}
	s := testSite(t, config.Handoff, "http")
	r := start(t, s, func(c *Config) {
		c.Notify = n
		c.Watchdog = 200 * time.Millisecond
	})
	eventually(t, 5*time.Second, "five watchdog pings", func() bool { return n.count("WATCHDOG=1") >= 5 })
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if n.count("STOPPING=1") != 1 {
		t.Errorf("STOPPING=1 sent %d times", n.count("STOPPING=1"))
	}
	n.mu.Lock()
	first := n.sends[0]
	n.mu.Unlock()
	if !strings.HasPrefix(first, "READY=1\nSTATUS=") {
		t.Errorf("first notification %q, want READY=1 with a STATUS line", first)
	}
}
