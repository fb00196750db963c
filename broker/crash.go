package broker

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/zsm-dev/zsm/internal/event"
)

// A worker that fails (cannot start, dies before it is ready, is not ready
// in time, or exits unexpectedly) is replaced after a backoff that doubles
// with each failure in a row, up to maxBackoff. After breakerAfter failures
// in a row the site's breaker opens: connections get the explicit failure at
// once instead of waiting for a worker that keeps dying. Every retry is a
// half-open probe (connections wait for it again), and the first worker
// that proves itself, by finishing a connection or staying ready for
// stableAfter, closes the breaker. The socket never goes dead.
const (
	breakerAfter = 5
	stableAfter  = 5 * time.Second
	maxBackoff   = 10 * time.Second
)

// backoff counts a failure and delays the next spawn: 100ms, doubling, at
// most maxBackoff.
func (p *pool) backoff(now time.Time) {
	p.failures++
	d := min(100*time.Millisecond<<min(p.failures-1, 10), maxBackoff)
	p.nextSpawn = now.Add(d)
	if p.failures == breakerAfter {
		p.emit(event.Event{Kind: event.BreakerOpen, Level: slog.LevelError, Message: "breaker open: the app keeps failing",
			Err: p.stats.LastErr, Attrs: attrs("failures", p.failures)})
		p.failQueue(p.breakerReason(now))
	}
}

func (p *pool) breakerOpen() bool { return p.failures >= breakerAfter }

func (p *pool) breakerReason(now time.Time) string {
	wait := max(p.nextSpawn.Sub(now), 0).Round(100 * time.Millisecond)
	return fmt.Sprintf("the app keeps failing (%d times in a row; last: %s); next try in %s", p.failures, p.stats.LastErr, wait)
}

// proven says the app works: failures in a row end, the breaker closes.
func (p *pool) proven(w *worker) {
	if p.failures == 0 {
		return
	}
	if p.breakerOpen() {
		p.emit(w.about(event.BreakerClosed, slog.LevelInfo, "breaker closed: the app works again"))
	}
	p.failures = 0
	p.nextSpawn = time.Time{}
}

// checkStable proves workers that have stayed ready for stableAfter.
func (p *pool) checkStable(now time.Time) {
	if p.failures == 0 {
		return
	}
	for _, w := range p.workers {
		if w.state == wReady && now.Sub(w.readyAt) >= stableAfter {
			p.proven(w)
			return
		}
	}
}

// breakerState names the breaker's state for Stats.
func (p *pool) breakerState() string {
	switch {
	case !p.breakerOpen():
		return "closed"
	case p.halfOpen():
		return "half-open"
	}
	return "open"
}

// canSpawn applies the backoff after workers failed to start.
func (p *pool) canSpawn(now time.Time) bool {
	return !now.Before(p.nextSpawn)
}
