package broker

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/zsm-dev/zsm/internal/config"
	"github.com/zsm-dev/zsm/internal/status"
)

// TestStatusHeldAndLatency: Status says which worker holds a connection,
// counts every connection handed in both latency histograms, and lists
// the listening socket with its backlog; in listen mode, where workers
// accept, there are no histograms.
func TestStatusHeldAndLatency(t *testing.T) {
	for _, tc := range []struct {
		mode config.Mode
		kind string
	}{{config.Handoff, "http"}, {config.Proxy, "backend"}, {config.Listen, "listen"}} {
		t.Run(string(tc.mode), func(t *testing.T) {
			s := testSite(t, tc.mode, tc.kind)
			r := start(t, s, nil)
			for range 3 {
				if code, _, err := get(r.addr, "/"); err != nil || code != 200 {
					t.Fatalf("request: %d %v", code, err)
				}
			}
			held, err := net.Dial("tcp", r.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer held.Close()
			if _, err := held.Write([]byte("GET / HTTP/1.1\r\n")); err != nil { // not the whole request
				t.Fatal(err)
			}
			var st status.Site
			want := uint64(4) // connections handed
			eventually(t, 10*time.Second, "the held connection in Status", func() bool {
				if st, err = r.b.Status(context.Background()); err != nil {
					t.Fatal(err)
				}
				if tc.mode == config.Listen { // the broker sees no connection
					return st.State == "running"
				}
				return heldBy(st) == 1 && st.HandoffLatency.Count() == want
			})
			if len(st.Listeners) != 1 || st.Listeners[0].Addr != s.Listen[0].String() || st.Listeners[0].Backlog == 0 {
				t.Errorf("Listeners: %+v, want %s with its backlog", st.Listeners, s.Listen[0])
			}
			if tc.mode == config.Listen {
				if st.QueueWait.Bounds != nil || st.HandoffLatency.Bounds != nil {
					t.Errorf("listen mode has histograms: %+v %+v", st.QueueWait, st.HandoffLatency)
				}
				return
			}
			for name, h := range map[string]status.Histogram{"QueueWait": st.QueueWait, "HandoffLatency": st.HandoffLatency} {
				if h.Count() != want || h.Sum <= 0 || len(h.Bounds) != len(latencyBounds) || len(h.Counts) != len(h.Bounds)+1 {
					t.Errorf("%s: %+v, want %d connections", name, h, want)
				}
			}
		})
	}
}

// heldBy sums the workers' Held, and checks that Busy follows it.
func heldBy(st status.Site) int {
	n := 0
	for _, w := range st.Workers {
		if w.Busy != w.Held {
			return -1
		}
		n += int(w.Held)
	}
	return n
}

// TestListeners: a unix listener's queue counts the connections not
// accepted yet; a closed socket's queue is unknown.
func TestListeners(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	f, err := ln.(*net.UnixListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for range 2 {
		c, err := net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	addr := config.Address{Net: config.NetUnix, Path: "q.sock"}
	closed, _ := os.Open(os.DevNull)
	closed.Close()
	got := listeners([]Socket{{Addr: addr, File: f}, {Addr: addr, File: closed}})
	if len(got) != 2 || got[0].Addr != "unix:q.sock" || got[0].Queue != 2 || got[0].Backlog == 0 {
		t.Errorf("listening: %+v, want unix:q.sock with 2 waiting", got)
	}
	if len(got) == 2 && (got[1].Queue != 0 || got[1].Backlog != 0) {
		t.Errorf("closed: %+v, want an unknown queue", got[1])
	}
}

// TestHistogram: a duration falls in the first bucket whose bound it
// does not exceed; above every bound, in the last.
func TestHistogram(t *testing.T) {
	var h histogram
	for _, d := range []time.Duration{0, 100 * time.Microsecond, 101 * time.Microsecond, 3 * time.Millisecond, time.Minute} {
		h.observe(d)
	}
	st := h.status()
	want := map[int]uint64{0: 2, 1: 1, 5: 1, len(latencyBounds): 1}
	for i, c := range st.Counts {
		if c != want[i] {
			t.Errorf("bucket %d (le %v): %d, want %d", i, st.Bounds[min(i, len(st.Bounds)-1)], c, want[i])
		}
	}
	if st.Count() != 5 || st.Sum < 60 || st.Sum > 60.01 {
		t.Errorf("count %d, sum %v; want 5, 60.003401", st.Count(), st.Sum)
	}
	(*histogram)(nil).observe(time.Second) // counts nothing, does not panic
}
