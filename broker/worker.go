package broker

import (
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/zsm-dev/zsm/internal/event"
	"github.com/zsm-dev/zsm/internal/proc"
)

// A worker's life goes one way: starting → ready → draining → gone, where
// any step may be skipped (a worker that dies while starting goes straight
// to gone). Every change of state goes through pool.move, which sets the
// worker's timers and flags for the new state and emits its event; a move
// backwards, or to the state it is in, does nothing.
type wstate uint8

const (
	wStarting wstate = iota // spawned, not ready yet
	wReady                  // takes connections
	wDraining               // takes no more; finishing what it holds, then exits
	wGone                   // exited and reaped: out of the pool
)

func (s wstate) String() string {
	return [...]string{"starting", "ready", "draining", "gone"}[s]
}

// worker is one app process. Only the pool's goroutine touches it, except
// for the immutable fields its reader and waiter use.
type worker struct {
	seq     int // its number in this broker: 1, 2, ...
	gen     int // the reload generation it was started in
	proc    Process
	pid     int
	state   wstate
	fate    fate      // what its exit will mean
	started time.Time // when it was spawned
	readyAt time.Time
	termAt  time.Time // draining: the stop signal after this; zero once sent, or when none is due
	killAt  time.Time // draining: SIGKILL after this; zero once sent
	maxAge  time.Duration
	rss     int64 // resident memory, read every memEvery when max_memory is set

	wasReady bool   // it said READY once (maybe while draining)
	notified bool   // it has sent an sd_notify datagram (listen, proxy)
	status   string // its own STATUS= text
	lastPing time.Time

	slots    int    // connections it takes at once
	held     int    // connections it holds
	full     bool   // it refused a connection (a full channel): wait for a DONE
	suspect  bool   // the mode suspects it stopped taking connections: none go to it
	stuck    bool   // it stopped taking connections: draining until a replacement is ready
	signaled bool   // it got its stop signal
	served   uint64 // connections it finished
	// What it reports of requests (PROTOCOL.md: REQUESTS, ACTIVE): how
	// many it finished, and, once it has said ACTIVE, how many of its
	// connections are in one, which began first and how long before
	// activeAt.
	requests      uint64
	reportsActive bool
	active        int
	activeID      uint64
	activeFor     time.Duration
	activeAt      time.Time
	lastUse       uint64 // dispatch sequence of its last connection, for FIFO
	idleSince     time.Time

	retiring    string  // why it is being recycled; "" when it is not
	replacement *worker // the worker started to take its place

	ch *channel // handoff: its channel
	be *backend // proxy: the instance's port
	// listen: connections waited in the kernel queue while it started.
	sawQueue bool
}

// fate is what a worker's exit means, decided when it starts draining.
type fate uint8

const (
	fateCrash    fate = iota // unexpected: a crash, or a failure to start
	fateExpected             // the broker asked for it, or the worker said STOPPING=1
	fateCounted              // a failure already counted when it was found
)

// cause is why a worker drains.
type cause uint8

const (
	causeAsked cause = iota // the broker stops it (reload, recycling, idle, drain, stop)
	causeOwn                // it said STOPPING=1: it stops on its own
	causeFault              // it broke a rule (protocol, refused connections); the reason is the site's error
	causeGone               // its channel ended under it: it is going away
	causeLate               // not ready within the start timeout: killed at once
	causeStuck              // it stopped taking what it was handed: replaced, then stopped
	causeHung               // a request ran past timeouts.request: replaced, then stopped
)

// becameReady moves a starting worker to ready, taking slots connections
// at once, and hands it what waits.
func (p *pool) becameReady(w *worker, slots int) {
	if p.move(w, wReady, slots, 0, "") {
		p.dispatch()
	}
}

// stopWorker stops giving w work and asks it to finish what it holds and
// exit: the mode's way (the end of its channel, or its stop signal), then
// SIGKILL after the stop timeout.
func (p *pool) stopWorker(w *worker, reason string) { p.drain(w, causeAsked, reason) }

// drain moves w to draining for cause.
func (p *pool) drain(w *worker, c cause, reason string) { p.move(w, wDraining, 0, c, reason) }

// move is the state machine's one transition function: it moves w to to
// and does what entering that state does. It reports whether w moved.
func (p *pool) move(w *worker, to wstate, slots int, c cause, reason string) bool {
	if to <= w.state {
		return false
	}
	w.state = to
	now := time.Now()
	switch to {
	case wReady:
		w.wasReady = true
		w.slots = max(slots, 1)
		w.idleSince, w.readyAt, w.lastPing = now, now, now
		p.slots = w.slots
		p.nextSpawn = time.Time{}
		p.replaced(now)
		e := w.about(event.WorkerReady, slog.LevelInfo, "worker ready")
		e.Attrs = attrs("slots", w.slots, "after", now.Sub(w.started).Round(time.Millisecond))
		p.emit(e)
	case wDraining:
		p.draining(w, c, reason, now)
	}
	return true
}

// killGrace is how long a worker that got its stop signal after the stop
// timeout has before SIGKILL.
const killGrace = 5 * time.Second

// signalStop sends w the site's stop signal (stop_signal, SIGTERM by
// default): the one its server stops gracefully on.
func (p *pool) signalStop(w *worker) {
	w.signaled = true
	w.proc.Signal(p.site.StopSignal.Num())
}

// draining does what entering the draining state does: the mode tells w
// to stop; after the stop timeout it gets the stop signal if it has not had it,
// and killGrace later SIGKILL (PROTOCOL.md, section 3).
func (p *pool) draining(w *worker, c cause, reason string, now time.Time) {
	w.killAt = now.Add(p.site.Timeouts.Stop)
	switch c {
	case causeAsked:
		w.fate = fateExpected
		p.emit(w.stopEvent("stopping worker", reason))
	case causeOwn:
		w.fate = fateExpected
		p.emit(w.stopEvent("worker is stopping on its own", ""))
	case causeFault:
		p.setErr(reason)
		if !w.wasReady {
			// Its failure to start is known now: count it now, so that no
			// other worker starts before the backoff.
			w.fate = fateCounted
			p.stats.Restarts++
			p.startFailed(w.gen, reason)
			p.failIfHopeless()
		}
		p.emit(w.stopEvent("stopping worker", reason))
	case causeGone:
		// Nothing to tell it: it is going away.
		w.terminateAt(now.Add(p.site.Timeouts.Stop), now, p.site.Timeouts.Stop)
		return
	case causeStuck, causeHung:
		w.stuck, w.suspect = true, false
		w.fate = fateCounted
		p.stats.Restarts++
		p.setErr(reason)
		p.emit(w.stopEvent("stopping worker", reason))
		p.m.stop(p, w, false)
		// The stop signal once a replacement is ready (becameReady), or after
		// the start timeout.
		w.terminateAt(now.Add(p.site.Timeouts.Start), now, 0)
		return
	case causeLate:
		w.killAt = now
		w.fate = fateCounted
		e := w.about(event.StartFailed, slog.LevelError, "worker not ready in time; killing it")
		e.Attrs = attrs("timeout", p.site.Timeouts.Start)
		p.emit(e)
		p.stats.Restarts++
		p.startFailed(w.gen, reason)
		p.failIfHopeless()
		return
	}
	w.terminateAt(p.m.stop(p, w, c == causeOwn), now, p.site.Timeouts.Stop)
}

// terminateAt schedules the stop signal at termAt (none when zero: it had
// it) and SIGKILL after the stop timeout, and at least killGrace after the
// stop signal.
func (w *worker) terminateAt(termAt, now time.Time, stop time.Duration) {
	w.termAt = termAt
	w.killAt = now.Add(stop)
	if !termAt.IsZero() && w.killAt.Before(termAt.Add(killGrace)) {
		w.killAt = termAt.Add(killGrace)
	}
}

// replaced tells stuck workers that a worker is ready to take their place:
// their stop signal is due.
func (p *pool) replaced(now time.Time) {
	for _, x := range p.workers {
		if x.stuck && x.state == wDraining && !x.termAt.IsZero() {
			x.terminateAt(now, now, 0)
		}
	}
}

func (w *worker) stopEvent(msg, reason string) event.Event {
	e := w.about(event.WorkerStopping, slog.LevelInfo, msg)
	e.Reason = reason
	return e
}

// exited takes w, which exited with st, out of the pool: the state
// machine's last step. Connections it held are lost; an exit the broker
// did not ask for counts as a crash, or as a failure to start.
func (p *pool) exited(w *worker, st *os.ProcessState) {
	if w.state == wGone {
		return
	}
	w.state = wGone
	p.remove(w)
	p.m.exited(p, w)
	how := proc.Describe(st)
	e := w.about(event.WorkerExited, slog.LevelInfo, "worker exited")
	e.Status = how
	e.Attrs = attrs("served", w.served)
	if w.held > 0 {
		p.stats.Failed += uint64(w.held)
		e.Attrs = append(e.Attrs, slog.Int("lost", w.held))
	}
	switch {
	case p.stopping || w.fate != fateCrash:
	case !w.wasReady:
		e.Kind, e.Level, e.Message = event.StartFailed, slog.LevelError, "worker exited before it was ready"
		p.stats.Restarts++
		p.startFailed(w.gen, fmt.Sprintf("%s %s before it was ready", p.site.Command[0], how))
		p.failIfHopeless()
	default:
		e.Kind, e.Level, e.Message = event.WorkerCrashed, slog.LevelWarn, "worker exited unexpectedly"
		p.stats.Restarts++
		p.setErr(fmt.Sprintf("%s %s", p.site.Command[0], how))
		p.backoff(time.Now())
	}
	p.emit(e)
}

// startFailed counts a failure to start a worker of generation gen: the
// site's error, and the backoff before the next try.
func (p *pool) startFailed(gen int, msg string) {
	p.failedGen = gen
	p.setErr(msg)
	p.backoff(time.Now())
}

// failIfHopeless answers the waiting connections when no worker is
// coming: clients do not wait for the start timeout when the app cannot
// start.
func (p *pool) failIfHopeless() {
	if p.live() == 0 && p.ready() == 0 {
		p.failQueue(p.stats.LastErr)
	}
}

func (p *pool) remove(w *worker) {
	for i, x := range p.workers {
		if x == w {
			p.workers = append(p.workers[:i], p.workers[i+1:]...)
			return
		}
	}
}

// The pool's questions about its workers, named once.

// spare says w is a ready worker with nothing to do: it holds no
// connection, can take one, and is not being replaced.
func (w *worker) spare() bool {
	return w.state == wReady && w.held == 0 && !w.full && w.retiring == ""
}

// live counts workers that are not draining, less those being recycled
// (their replacements take their places).
func (p *pool) live() int {
	n := 0
	for _, w := range p.workers {
		if w.state != wDraining && w.retiring == "" {
			n++
		}
	}
	return n
}

// ready counts ready workers.
func (p *pool) ready() int { return p.count(wReady) }

// freeSlots counts the connections ready workers can take below their
// slots (handoff: SLOTS; proxy: maxconn), those of full ones not counted.
func (p *pool) freeSlots() int {
	n := 0
	for _, w := range p.workers {
		if w.state == wReady && !w.full && w.held < w.slots {
			n += w.slots - w.held
		}
	}
	return n
}

// starting counts workers not ready yet.
func (p *pool) starting() int { return p.count(wStarting) }

func (p *pool) count(s wstate) int {
	n := 0
	for _, w := range p.workers {
		if w.state == s {
			n++
		}
	}
	return n
}

// spares counts spare workers.
func (p *pool) spares() int {
	n := 0
	for _, w := range p.workers {
		if w.spare() {
			n++
		}
	}
	return n
}

// alive says w is still in the pool.
func (p *pool) alive(w *worker) bool {
	for _, x := range p.workers {
		if x == w {
			return true
		}
	}
	return false
}

// halfOpen says a retry is under way while the breaker is open.
func (p *pool) halfOpen() bool { return p.starting()+p.ready() > 0 }
