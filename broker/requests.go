package broker

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/zsm-dev/zsm/activation"
	"github.com/zsm-dev/zsm/internal/event"
)

// Requests, in handoff mode. A worker may report the requests it finishes
// and those in progress (PROTOCOL.md, section 4: REQUESTS, ACTIVE); the
// status counts them, and the slow log and the request timeout time each
// request from when it began. A worker that reports none is timed per
// connection, from when it was accepted: for servers that take one
// request per connection, that is the request.

// rateWindow is how far back RequestsPerSec looks.
const rateWindow = 10 * time.Second

// requestsReported applies a report's REQUESTS and ACTIVE.
func (p *pool) requestsReported(w *worker, r activation.Report) {
	if r.Requests > 0 {
		w.requests += r.Requests
		p.stats.Requests += r.Requests
	}
	if r.HasActive {
		w.reportsActive = true
		w.active, w.activeID, w.activeFor, w.activeAt = r.Active, r.ActiveID, r.ActiveFor, time.Now()
	}
}

// busy is how many of w's connections are in a request: as it reports,
// else all it holds.
func (w *worker) busy() int {
	if w.reportsActive {
		return min(w.active, w.held)
	}
	return w.held
}

// reportGrace is how long a ready worker has to report its requests
// (ACTIVE) before it is timed per connection: a worker on the activation
// package reports within activation.ReportEvery of its first request.
const reportGrace = 4 * activation.ReportEvery

// oldestRequest returns the connection of w's longest-running request and
// when that request began; nil when w is in none, or may yet report.
func oldestRequest(w *worker, now time.Time) (id uint64, c *pending, began time.Time) {
	if w.ch == nil || (!w.reportsActive && now.Sub(w.readyAt) < reportGrace) {
		return 0, nil, time.Time{}
	}
	if w.reportsActive {
		if w.active == 0 || w.activeID == 0 {
			return 0, nil, time.Time{}
		}
		return w.activeID, w.ch.ids[w.activeID], w.activeAt.Add(-w.activeFor)
	}
	for cid, x := range w.ch.ids {
		if c == nil || x.at.Before(c.at) {
			id, c = cid, x
		}
	}
	if c == nil {
		return 0, nil, time.Time{}
	}
	return id, c, c.at
}

// checkRequests logs slow requests (slow_log) and replaces the workers of
// requests that ran past timeouts.request.
func (h *handoff) checkRequests(p *pool, now time.Time) {
	slow, limit := p.site.SlowLog, p.site.Timeouts.Request
	if slow == 0 && limit == 0 {
		return
	}
	for _, w := range p.workers {
		if w.state != wReady && w.state != wDraining {
			continue
		}
		id, c, began := oldestRequest(w, now)
		if c == nil {
			continue
		}
		age := now.Sub(began)
		// The same request: its start, as reports place it, moves by
		// microseconds; the next one on the connection began at least
		// slow_log later.
		if d := began.Sub(c.slowSince).Abs(); slow > 0 && age >= slow && d >= slow/2 {
			c.slowSince = began
			p.slowRequest(w, id, c, age)
		}
		if limit > 0 && age >= limit && w.state == wReady {
			e := w.about(event.RequestTimeout, slog.LevelError, "request ran past timeouts.request; replacing its worker")
			e.Attrs = requestAttrs(id, c, age, "timeout", limit)
			p.emit(e)
			p.drain(w, causeHung, fmt.Sprintf("worker %d: a request from %s ran past timeouts.request (%s)",
				w.pid, sockaddrString(c.peer), limit))
		}
	}
}

// slowRequest logs one slow request, and sends its worker slow_log_signal.
func (p *pool) slowRequest(w *worker, id uint64, c *pending, age time.Duration) {
	e := w.about(event.SlowRequest, slog.LevelWarn, "slow request")
	e.Attrs = requestAttrs(id, c, age, "slow_log", p.site.SlowLog)
	if sig := p.site.SlowLogSignal; sig != "" {
		if err := w.proc.Signal(sig.Num()); err != nil {
			e.Err = "cannot send " + string(sig) + ": " + err.Error()
		} else {
			e.Attrs = append(e.Attrs, slog.String("signal", string(sig)))
		}
	}
	p.emit(e)
}

func requestAttrs(id uint64, c *pending, age time.Duration, key string, limit time.Duration) []slog.Attr {
	return attrs("peer", sockaddrString(c.peer), "conn", id, "age", age.Round(time.Millisecond), key, limit)
}

// rate is the site's requests a second over the last rateWindow, from
// samples taken at ticks.
type rate struct {
	samples []rateSample
}

type rateSample struct {
	at       time.Time
	requests uint64
}

// add samples n requests at now and returns the rate since the oldest
// sample within rateWindow.
func (r *rate) add(now time.Time, n uint64) float64 {
	r.samples = append(r.samples, rateSample{now, n})
	i := 0
	for i < len(r.samples)-1 && now.Sub(r.samples[i+1].at) >= rateWindow {
		i++
	}
	r.samples = r.samples[i:]
	first := r.samples[0]
	if d := now.Sub(first.at); d > 0 && n >= first.requests {
		return float64(n-first.requests) / d.Seconds()
	}
	return 0
}
