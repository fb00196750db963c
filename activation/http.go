package activation

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Grace is how long ServeHTTP lets kept-alive connections come back for
// one more request once it stops, before it closes the idle ones.
const Grace = time.Second

// ServeHTTP serves srv on l until l stops (the broker ended the channel,
// SIGTERM, Stop), then stops without failing a request, as PROTOCOL.md
// (section 3, "End of file") asks: every response from then on carries
// "Connection: close"; for at most Grace (or drain, if shorter) kept-alive
// connections may come back for one more request instead of being closed
// under a client that may be sending; then the idle ones are closed, the
// in-flight requests finish (for at most drain), and it returns. Each
// connection's Close sends its DONE=1. Under zsm handoff it also reports
// the requests it finishes and those in progress (REQUESTS and ACTIVE,
// PROTOCOL.md section 4), at most every ReportEvery. It wraps srv.Handler
// and srv.ConnState, and closes l. A nil error means every request was
// finished.
func ServeHTTP(srv *http.Server, l *Listener, drain time.Duration) error {
	var stopping atomic.Bool
	h := srv.Handler
	if h == nil {
		h = http.DefaultServeMux
	}
	reqs := &requests{active: map[net.Conn]time.Time{}}
	srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if stopping.Load() {
			// net/http closes the connection after this response.
			w.Header().Set("Connection", "close")
		}
		defer reqs.finished()
		h.ServeHTTP(w, r)
	})
	var mu sync.Mutex
	open := map[net.Conn]http.ConnState{}
	prev := srv.ConnState
	srv.ConnState = func(c net.Conn, st http.ConnState) {
		mu.Lock()
		if st == http.StateClosed || st == http.StateHijacked {
			delete(open, c)
		} else {
			open[c] = st
		}
		mu.Unlock()
		reqs.state(c, st)
		if prev != nil {
			prev(c, st)
		}
	}
	if l.mode == ModeHandoff {
		stop := reqs.reportTo(l)
		defer stop()
	}
	err := srv.Serve(l)
	if !errors.Is(err, net.ErrClosed) && !errors.Is(err, http.ErrServerClosed) {
		l.Close()
		return err
	}
	// SetKeepAlivesEnabled(false) would close idle connections now, under
	// clients that may be sending on them: let each say goodbye instead.
	stopping.Store(true)
	deadline := time.Now().Add(min(Grace, drain))
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for time.Now().Before(deadline) {
		mu.Lock()
		n := len(open)
		mu.Unlock()
		if n == 0 {
			break
		}
		<-tick.C
	}
	ctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	return srv.Shutdown(ctx)
}

// ReportEvery is how often, at most, ServeHTTP reports requests to the
// broker: only when something changed, so an idle worker sends nothing.
const ReportEvery = 250 * time.Millisecond

// requests is what ServeHTTP counts of requests for its reports: how many
// finished since the last report, and which connections are in one now.
type requests struct {
	mu      sync.Mutex
	done    uint64
	active  map[net.Conn]time.Time // since when each is in a request
	changed bool
}

func (q *requests) finished() {
	q.mu.Lock()
	q.done++
	q.changed = true
	q.mu.Unlock()
}

// state follows a connection between requests (http.ConnState): active
// from a request's first byte until it is idle again, or closed.
func (q *requests) state(c net.Conn, st http.ConnState) {
	q.mu.Lock()
	defer q.mu.Unlock()
	_, was := q.active[c]
	switch {
	case st == http.StateActive && !was:
		q.active[c] = time.Now()
	case st != http.StateActive && was:
		delete(q.active, c)
	default:
		return
	}
	q.changed = true
}

// report returns the report of what changed since the last one, if
// anything did.
func (q *requests) report() (Report, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.changed {
		return Report{}, false
	}
	r := Report{Requests: q.done, HasActive: true, Active: len(q.active)}
	var first time.Time
	for c, since := range q.active {
		hc, ok := c.(*Conn)
		if ok && (first.IsZero() || since.Before(first)) {
			first, r.ActiveID = since, hc.Handoff().ID
		}
	}
	if !first.IsZero() {
		r.ActiveFor = time.Since(first)
	}
	q.done, q.changed = 0, false
	return r, true
}

// reportTo sends l's broker the reports, every ReportEvery, until the
// returned stop is called, which sends the last one.
func (q *requests) reportTo(l *Listener) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(ReportEvery)
		defer t.Stop()
		for {
			select {
			case <-t.C:
			case <-done:
				return
			}
			if r, ok := q.report(); ok {
				l.report(r) // fails only if the broker is gone
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
		if r, ok := q.report(); ok {
			l.report(r)
		}
	}
}
