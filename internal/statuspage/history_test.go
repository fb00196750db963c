package statuspage

import (
	"context"
	"testing"
	"time"

	"github.com/zsm-dev/zsm/internal/status"
)

// TestHistoryRing: a site keeps its last historySamples samples, oldest
// first, and a site that left the source is forgotten.
func TestHistoryRing(t *testing.T) {
	h := NewHistory()
	for i := range historySamples + 5 {
		h.Record([]status.Site{{Site: "a", Served: uint64(i)}, {Site: "b"}}, testNow.Add(time.Duration(i)*time.Second))
	}
	pts := h.points("a")
	if len(pts) != historySamples || pts[0].count != 5 || pts[len(pts)-1].count != historySamples+4 {
		t.Fatalf("%d samples from %d to %d, want %d from 5", len(pts), pts[0].count, pts[len(pts)-1].count, historySamples)
	}
	h.Record([]status.Site{{Site: "a"}}, testNow)
	if got := h.points("b"); got != nil {
		t.Errorf("b left and is still kept: %d samples", len(got))
	}
	if (*History)(nil).points("a") != nil {
		t.Error("a nil History has samples")
	}
}

// TestGraphs: the rate is of Requests when workers report them, else of
// Served, and a counter that restarted (a new broker) counts from 0;
// busy counts workers, waiting adds the broker's queue and the kernel's.
func TestGraphs(t *testing.T) {
	at := func(s int) time.Time { return testNow.Add(time.Duration(s-30) * time.Second) }
	pts := []point{
		{at: at(0), count: 100},
		{at: at(10), count: 150}, // 5/s
		{at: at(20), count: 40},  // restarted: 4/s
		{at: at(30), count: 240, requests: true, busy: 3, waiting: 9}, // Requests now: 24/s
	}
	g := graphs(pts, testNow)
	if len(g) != 3 {
		t.Fatalf("%d graphs, want 3", len(g))
	}
	want := []struct{ title, now, max string }{
		{"requests/s", "24.0", "24.0"}, {"busy workers", "3", "3"}, {"waiting connections", "9", "9"},
	}
	for i, w := range want {
		if g[i].Title != w.title || g[i].Now != w.now || g[i].Max != w.max {
			t.Errorf("graph %d: %q now %s max %s, want %q now %s max %s", i, g[i].Title, g[i].Now, g[i].Max, w.title, w.now, w.max)
		}
	}
	// 5/s, 4/s, 24/s on a scale of 24, 900 s wide, ending at the right edge.
	if wantLine := "M234.7,36.8 L237.3,38.7 L240.0,2.0"; g[0].Line != wantLine {
		t.Errorf("rate line %q, want %q", g[0].Line, wantLine)
	}
	if graphs(pts[:1], testNow) != nil {
		t.Error("graphs of one sample")
	}
}

// TestHistoryRun records at once, and returns when its context ends.
func TestHistoryRun(t *testing.T) {
	h := NewHistory()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		h.Run(ctx, fixed(runningSite()), time.Hour)
		close(done)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for h.points("blog") == nil && time.Now().Before(deadline) {
		select {
		case <-done:
			t.Fatal("Run returned")
		case <-time.After(time.Millisecond):
		}
	}
	if h.points("blog") == nil {
		t.Error("no sample recorded at once")
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}
