package statuspage

import (
	"context"
	"sync"
	"time"

	"github.com/zsm-dev/zsm/internal/status"
)

// The page's graphs: what each site did over the last 15 minutes, from a
// sample of its status every 10 seconds.
const (
	// HistoryInterval is how often History.Run samples its source.
	HistoryInterval = 10 * time.Second
	// historySamples is how many samples a site keeps: 15 minutes.
	historySamples = 90
	// historySpan is how far back the graphs reach.
	historySpan = historySamples * HistoryInterval
)

// History keeps the last 15 minutes of each site's status, one sample
// every HistoryInterval, for the page's graphs. The zero value is not
// usable: use NewHistory. It is safe for concurrent use.
type History struct {
	mu    sync.Mutex // guards sites
	sites map[string]*ring
}

// point is one sample of a site.
type point struct {
	at       time.Time
	count    uint64 // Requests when a worker reports them, else Served
	requests bool   // count is Requests
	busy     uint32 // workers with a connection in a request
	waiting  uint32 // connections waiting: in the broker and in the kernel's accept queues
}

// ring is a site's last samples, oldest first from next.
type ring struct {
	pts  [historySamples]point
	n    int // samples kept, up to historySamples
	next int // where the next one goes
}

// NewHistory returns an empty History.
func NewHistory() *History {
	return &History{sites: map[string]*ring{}}
}

// Run records what source returns now and then every interval until ctx
// is done. A source that fails leaves a gap in the graphs.
func (h *History) Run(ctx context.Context, source func(context.Context) ([]status.Site, error), interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if sites, err := source(ctx); err == nil {
			h.Record(sites, time.Now())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Record adds a sample of each site, taken at now, and forgets the sites
// that are not among them.
func (h *History) Record(sites []status.Site, now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	seen := map[string]bool{}
	for _, s := range sites {
		seen[s.Site] = true
		r := h.sites[s.Site]
		if r == nil {
			r = &ring{}
			h.sites[s.Site] = r
		}
		r.pts[r.next] = pointOf(s, now)
		r.next = (r.next + 1) % historySamples
		r.n = min(r.n+1, historySamples)
	}
	for name := range h.sites {
		if !seen[name] {
			delete(h.sites, name)
		}
	}
}

// pointOf is s at now, as the graphs need it.
func pointOf(s status.Site, now time.Time) point {
	p := point{at: now, count: s.Served, waiting: s.Queued}
	if s.Requests > 0 {
		p.count, p.requests = s.Requests, true
	}
	for _, w := range s.Workers {
		if w.Busy > 0 {
			p.busy++
		}
	}
	for _, l := range s.Listeners {
		p.waiting += l.Queue
	}
	return p
}

// points returns site's samples, oldest first; nil for a nil History.
func (h *History) points(site string) []point {
	if h == nil {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.sites[site]
	if r == nil {
		return nil
	}
	out := make([]point, 0, r.n)
	for i := range r.n {
		out = append(out, r.pts[(r.next-r.n+i+historySamples)%historySamples])
	}
	return out
}
