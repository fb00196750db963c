package broker

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"syscall"
	"time"

	"github.com/zsm-dev/zsm/internal/config"
	"github.com/zsm-dev/zsm/internal/event"
)

// pool owns the site's workers and queue. All fields are used by run's
// goroutine only, except events, requests and done.
type pool struct {
	b      *Broker
	site   *config.Site
	m      mode   // how connections reach workers: chosen once
	traits traits // m's

	events   chan func()   // work for the pool goroutine from its own helpers; kicks relay
	requests chan request  // control calls (Broker.call); kicks relay
	relay    *relay        // what the pool goroutine waits in; it accepts, hands off and copies
	done     chan struct{} // closed when run has stopped receiving
	wg       sync.WaitGroup

	workers   []*worker
	queue     []*pending
	warm      bool // the site has had a connection (or is eager): keep a pool
	seq       int  // workers started
	connSeq   uint64
	slots     int // SLOTS the last ready worker declared: the guess for new ones
	failures  int // consecutive workers that failed to start
	nextSpawn time.Time
	lastConn  time.Time // last connection accepted or finished
	stats     Stats
	rate      rate // of requests, for stats.RequestsPerSec
	gen       int  // the current generation: new workers belong to it
	failedGen int  // a generation whose worker failed to start

	latency latencies // how long connections waited (metrics.go)

	statusSent   string    // the STATUS= line last sent
	ignoredAt    time.Time // when an ignored notify datagram was last logged
	ignoredSince int       // ignored datagrams not logged since
	memRead      time.Time // when workers' memory was last read
	lastWatchdog time.Time // when the broker last sent WATCHDOG=1
	tickedAt     time.Time // the last tick

	reloading     *reload
	loading       bool // Config.Load runs for the next reload (loadForReload)
	queuedReloads []chan error

	stopping   bool
	stopAt     time.Time // when stopping began
	stopReason string
	stoppedAll bool // every worker has been told to stop
	killed     bool // a worker had to be SIGKILLed while stopping
}

func newPool(b *Broker) (*pool, error) {
	m, err := newMode(b.cfg.Site)
	if err != nil {
		return nil, err
	}
	p := &pool{
		b:        b,
		site:     b.cfg.Site,
		m:        m,
		traits:   m.traits(),
		events:   make(chan func(), 64),
		requests: make(chan request, 16),
		done:     make(chan struct{}),
		slots:    1,
		warm:     b.cfg.Site.Eager,
	}
	if err := b.cfg.ConfigError; err != nil {
		p.stats.ConfigErr = err.Error()
	}
	r, err := newRelay(p)
	if err != nil {
		return nil, err
	}
	p.relay = r
	r.connected = &p.latency.handoff
	return p, nil
}

// post runs f on the pool goroutine; it gives up once the pool has stopped.
func (p *pool) post(f func()) {
	select {
	case p.events <- f:
		p.relay.kick()
	case <-p.done:
	}
}

func (p *pool) run(ctx context.Context) (err error) {
	defer func() {
		// Connects that failed in the last turn come back to the queue:
		// they were accepted, so they get the failure.
		p.relay.report()
		p.failQueue("the site is stopping")
		close(p.done)
		p.wg.Wait()
		p.m.close()
		p.relay.close()
	}()
	if err := p.m.open(p); err != nil {
		p.m.closeListeners(p)
		return err
	}
	p.emit(event.Event{Kind: event.BrokerReady, Message: "broker ready",
		Attrs: attrs("mode", p.site.Mode, "sockets", len(p.b.cfg.Sockets), "lazy", !p.site.Eager)})
	p.takePending()
	p.b.pool = p
	close(p.b.running)
	p.sdNotify("READY=1\nSTATUS=" + p.snapshot().StatusLine())

	tick := time.NewTicker(p.b.cfg.Tick)
	defer tick.Stop()
	p.tickedAt = time.Now()
	defer context.AfterFunc(ctx, p.relay.kick)()
	stop := ctx.Done()
	for {
		stop = p.step(stop, tick.C)
		if p.stopping {
			if p.stopStep(time.Now()) {
				break
			}
		} else {
			p.maintain(time.Now())
		}
		p.m.turn(p)
		p.publish()
	}
	p.publish()
	if p.killed {
		return ErrStopTimeout
	}
	return nil
}

// step is one turn of the pool: it waits in the relay, which accepts,
// hands off, connects and copies right here, until a socket has something,
// work is posted (which kicks the relay) or the next tick. The Go channels
// are then read without waiting.
func (p *pool) step(stop <-chan struct{}, tick <-chan time.Time) <-chan struct{} {
	p.relay.wait(time.Until(p.tickedAt.Add(p.b.cfg.Tick)))
	for {
		select {
		case <-stop:
			stop = nil
			p.beginStop("broker stopping")
		case f := <-p.events:
			f()
		case r := <-p.requests:
			p.handle(r)
		case now := <-tick:
			p.tickedAt = now
			p.tick(now)
		default:
			return stop
		}
	}
}

// maintain dispatches queued connections and sizes the pool: grow while
// connections wait, keep min_idle spares, stop spares idle too long, fail
// connections that waited past the start timeout.
func (p *pool) maintain(now time.Time) {
	p.dispatch()
	if p.reloading != nil {
		p.reloadStep(now)
		p.expire(now)
		return
	}
	if !p.warm {
		return
	}
	p.grow(now)
	if p.breakerOpen() && p.site.Pool.IdleStop > 0 && now.Sub(p.lastConn) >= p.site.Pool.IdleStop && !p.halfOpen() {
		// Nobody is asking: stop retrying until the next connection.
		p.warm = false
		return
	}
	p.checkStable(now)
	p.trim()
	p.readMemory(now)
	p.recycle(now)
	p.shrink(now)
	p.expire(now)
	p.idleStop(now)
}

// grow starts the workers the pool wants, as the backoff allows.
func (p *pool) grow(now time.Time) {
	for p.wantWorker() && p.canSpawn(now) && p.spawn(now) {
	}
}

// wantWorker says whether one more worker is needed now.
func (p *pool) wantWorker() bool {
	return p.live() < p.m.capacity(p.site) && p.m.wantWorker(p)
}

// tick runs the timers: the broker's watchdog, SIGKILL for workers past
// their stop timeout, the mode's own, and the STATUS= line.
func (p *pool) tick(now time.Time) {
	if d := p.b.cfg.Watchdog; d > 0 && now.Sub(p.lastWatchdog) >= d/2 {
		p.lastWatchdog = now
		p.sdNotify("WATCHDOG=1")
	}
	p.m.tick(p, now)
	p.stats.RequestsPerSec = p.rate.add(now, p.stats.Requests)
	p.relay.expire(now, p.site.Timeouts.Connect, p.site.Timeouts.FirstByte, p.site.Timeouts.Idle)
	for _, w := range p.workers {
		if w.state != wDraining {
			continue
		}
		if !w.termAt.IsZero() && now.After(w.termAt) {
			w.termAt = time.Time{}
			p.signalStop(w)
		}
		if !w.killAt.IsZero() && now.After(w.killAt) {
			p.emit(w.about(event.WorkerKilled, slog.LevelWarn, "worker still running after the stop timeout; killing it"))
			w.proc.Signal(syscall.SIGKILL)
			w.killAt = time.Time{}
			if p.stopping {
				p.killed = true
			}
		}
	}
	p.notifyStatus()
}

func (p *pool) sdNotify(state string) {
	if n := p.b.cfg.Notify; n != nil {
		// A service manager that does not listen costs nothing but this
		// message: the broker serves on.
		n.Notify(state)
	}
}

// snapshot computes the current Stats.
func (p *pool) snapshot() Stats {
	s := p.stats
	s.Workers, s.Ready, s.Busy, s.Active = len(p.workers), 0, 0, 0
	for _, w := range p.workers {
		if w.state == wReady {
			s.Ready++
			if w.held > 0 {
				s.Busy++
			}
		}
		s.Active += w.held
	}
	s.Queued = len(p.queue)
	s.Generation = p.gen
	s.Breaker = p.breakerState()
	switch {
	case p.stopping:
		s.State = "stopping"
	case p.breakerOpen():
		s.State = "failing"
	case s.Ready > 0:
		s.State = "running"
	case len(p.workers) > 0 || p.warm:
		s.State = "starting"
	default:
		s.State = "cold"
	}
	return s
}

func (p *pool) publish() {
	p.b.setStats(p.snapshot())
}

// notifyStatus sends the STATUS= line when it changed (at most once a tick).
func (p *pool) notifyStatus() {
	line := p.snapshot().StatusLine()
	if line != p.statusSent {
		p.statusSent = line
		p.sdNotify("STATUS=" + line)
	}
}

func (p *pool) setErr(msg string) {
	p.stats.LastErr = msg
}

// The relay's reports (relayOwner): enqueue and finished are the pool's
// own; the rest belong to the mode.

func (p *pool) readChannel(w *worker) { p.m.readChannel(p, w) }

func (p *pool) connectFailed(w *worker, c *pending, err error) { p.m.connectFailed(p, w, c, err) }

// timedOut counts a connection whose backend did not answer in time: its
// client got the explicit failure (relay.timeout).
func (p *pool) timedOut(w *worker, after time.Duration) {
	if w.held > 0 {
		w.held--
	}
	p.stats.Shed++
	e := w.about(event.Refused, slog.LevelWarn, "connection refused")
	e.Reason = fmt.Sprintf("the backend did not answer within %s", p.site.Timeouts.FirstByte)
	e.Attrs = attrs("waited", after.Round(time.Millisecond))
	p.emit(e)
	if w.state == wDraining && w.held == 0 {
		p.m.drained(p, w)
	}
	p.dispatch()
}

func (p *pool) acceptFailed(listener string, err error) {
	p.emit(event.Event{Kind: event.AcceptFailed, Level: slog.LevelError, Message: "accept failed", Err: err.Error(), Attrs: attrs("listener", listener)})
}
