package broker

import (
	"fmt"
	"time"

	"github.com/zsm-dev/zsm/internal/event"
)

// The pool's policies that run on the clock, after every turn of the loop
// (maintain): they size the pool down and give up on what waits too long.

// shrink stops ready spares beyond min_idle that have been idle a while,
// the longest idle first.
func (p *pool) shrink(now time.Time) {
	if !p.traits.shrinks || p.anySuspect() {
		return // a spare may soon be all that serves
	}
	idle := 0
	var oldest *worker
	for _, w := range p.workers {
		if w.state == wReady && w.held == 0 {
			idle++
			if now.Sub(w.idleSince) >= p.b.cfg.ShrinkAfter && (oldest == nil || w.idleSince.Before(oldest.idleSince)) {
				oldest = w
			}
		}
	}
	if idle > p.site.Pool.MinIdle && oldest != nil && len(p.queue) == 0 {
		p.stopWorker(oldest, "idle spare beyond min_idle")
	}
}

// anySuspect says a worker may have stopped taking connections.
func (p *pool) anySuspect() bool {
	for _, w := range p.workers {
		if w.suspect || w.stuck {
			return true
		}
	}
	return false
}

// trim stops spares beyond the pool's capacity (after SetPool).
func (p *pool) trim() {
	for _, w := range p.workers {
		if p.live() <= p.m.capacity(p.site) {
			return
		}
		if w.state == wReady && w.held == 0 && w.retiring == "" {
			p.stopWorker(w, "above the pool's max")
		}
	}
}

// expire kills workers that did not become ready within the start timeout
// and fails connections that waited that long with no worker ready.
func (p *pool) expire(now time.Time) {
	limit := p.site.Timeouts.Start
	notReady := func() string { return fmt.Sprintf("%s was not ready within %s", p.site.Command[0], limit) }
	for _, w := range p.workers {
		if w.state == wStarting && now.Sub(w.started) > limit && p.m.overdue(w) {
			p.drain(w, causeLate, notReady())
		}
	}
	if len(p.queue) > 0 && p.ready() == 0 && now.Sub(p.queue[0].at) > limit {
		// The queue's head usually came before the worker it started, so
		// it can give up a tick before that worker is found late.
		reason := p.stats.LastErr
		switch {
		case reason != "":
		case p.starting() > 0:
			reason = notReady()
		default:
			reason = fmt.Sprintf("no worker was ready within %s", limit)
		}
		p.failQueue(reason)
	}
	p.expireQueued(now)
}

// expireQueued fails connections that waited longer than the queue
// timeout, even while workers are ready: busy, or stuck.
func (p *pool) expireQueued(now time.Time) {
	limit := p.site.Timeouts.Queue
	kept := p.queue[:0]
	for _, c := range p.queue {
		if now.Sub(c.at) <= limit {
			kept = append(kept, c)
			continue
		}
		p.stats.Shed++
		p.fail(c, fmt.Sprintf("no worker took the connection within %s (the queue timeout)", limit))
	}
	clear(p.queue[len(kept):])
	p.queue = kept
}

// idleStop scales the site to zero after idle_stop without a connection.
func (p *pool) idleStop(now time.Time) {
	d := p.site.Pool.IdleStop
	if d == 0 || !p.traits.seesIdle || p.site.Eager || len(p.queue) > 0 || len(p.workers) == 0 {
		return
	}
	for _, w := range p.workers {
		if w.held > 0 {
			return
		}
	}
	if now.Sub(p.lastConn) < d {
		return
	}
	if p.site.Pool.ExitWhenIdle && p.b.cfg.CanExit {
		p.emit(event.Event{Kind: event.Idle, Message: "idle: stopping every worker and exiting; systemd starts the broker again on the next connection",
			Attrs: attrs("idle_stop", d)})
		p.beginStop("idle_stop")
		return
	}
	p.emit(event.Event{Kind: event.Idle, Message: "idle: stopping every worker", Attrs: attrs("idle_stop", d)})
	for _, w := range p.workers {
		p.stopWorker(w, "idle_stop")
	}
	p.warm = false
}

// beginStop stops taking connections: those not accepted yet wait in the
// kernel queue for the next broker. stopStep then serves every connection
// already accepted and drains the workers.
func (p *pool) beginStop(reason string) {
	p.stopping = true
	p.stopAt = time.Now()
	p.stopReason = reason
	p.sdNotify("STOPPING=1")
	p.emit(event.Event{Kind: event.Stopping, Message: "stopping", Reason: reason, Attrs: attrs("workers", len(p.workers), "queued", len(p.queue))})
	p.m.closeListeners(p)
	if p.reloading != nil {
		p.answer(p.reloading.waiters, ErrStopped)
		p.reloading = nil
	}
	p.answer(p.queuedReloads, ErrStopped)
	p.queuedReloads = nil
}

// stopStep moves a stop along; it reports true when the broker may return.
// First the connections already accepted are served (by ready workers, or
// ones started for them, within the stop timeout), then every worker is
// told to stop.
func (p *pool) stopStep(now time.Time) bool {
	if len(p.queue) > 0 {
		if now.Sub(p.stopAt) < p.site.Timeouts.Stop {
			p.dispatch()
			for len(p.queue) > 0 && p.wantWorker() && p.canSpawn(now) && p.spawn(now) {
			}
			p.expire(now)
			return false
		}
		p.storeQueue()
	}
	if !p.stoppedAll {
		p.stoppedAll = true
		for _, w := range p.workers {
			p.stopWorker(w, p.stopReason)
		}
		p.m.close()
	}
	return len(p.workers) == 0
}
