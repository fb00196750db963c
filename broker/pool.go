package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/zsm-dev/zsm/activation"
	"github.com/zsm-dev/zsm/internal/config"
	"github.com/zsm-dev/zsm/internal/proc"
)

type wstate int

const (
	wStarting wstate = iota // spawned, not ready yet
	wReady                  // takes connections
	wDraining               // finishing what it holds, then exits
)

func (s wstate) String() string {
	return [...]string{"starting", "ready", "draining"}[s]
}

// worker is one app process. Only the pool's goroutine touches it, except
// for the immutable fields its reader and waiter use.
type worker struct {
	seq     int
	proc    Process
	pid     int
	state   wstate
	started time.Time
	ch      *os.File      // handoff channel, outside the runtime's poller; nil in other modes
	chEnd   *end          // the channel in the relay
	chEnded bool          // its channel has ended: the relay no longer watches it
	quiet   bool          // the relay does not wake for its reports: they are read when needed
	reading bool          // its reports are being read (see readReports)
	backend string        // proxy: the address it serves
	sa      unix.Sockaddr // proxy: backend, resolved
	port    int           // proxy: its port

	slots       int                 // connections it takes at once (handoff)
	held        int                 // connections it holds
	ids         map[uint64]struct{} // handoff: the ids of the connections it holds
	served      uint64              // connections it finished
	lastUse     uint64              // dispatch sequence of its last connection, for FIFO
	idleSince   time.Time
	full        bool          // its channel refused a send; wait for a DONE
	killAt      time.Time     // draining: SIGKILL after this
	termAt      time.Time     // draining proxy backend: SIGTERM after this
	expected    bool          // its exit is expected (drained, stopped)
	status      string        // its own STATUS= text
	notified    bool          // it has used NOTIFY_SOCKET
	wasReady    bool          // it became ready once
	readyAt     time.Time     // when it became ready
	lastPing    time.Time     // its last WATCHDOG=1 (or readiness)
	gen         int           // the reload generation it was started in
	maxAge      time.Duration // max_age less jitter; 0 never
	rss         int64         // resident memory, read every memEvery when max_memory is set
	retiring    string        // why it is being recycled; "" when it is not
	replacement *worker       // the worker started to take its place
	sawQueue    bool          // listen: connections waited in the kernel queue while it started
}

// pending is an accepted connection waiting for a worker.
type pending struct {
	fd       int  // the accepted socket: blocking in handoff mode, non-blocking in proxy mode
	end      *end // proxy: its place in the relay, once connected to a backend
	listener string
	peer     unix.Sockaddr // the client's address, formatted only when needed
	at       time.Time
	retries  int // proxy: backends that failed to take it
}

// pool owns the site's workers and queue. All fields are used by run's
// goroutine only, except events, conns and done.
type pool struct {
	b    *Broker
	site *config.Site
	log  *slog.Logger

	events chan func() // work for the pool goroutine, which kicks relay
	relay  *relay      // what the pool goroutine waits in; in handoff and proxy mode it accepts and copies

	reportBuf []byte        // handoff: a report read from a channel
	oobBuf    []byte        // and its control message
	done      chan struct{} // closed when run has stopped receiving
	wg        sync.WaitGroup

	workers       []*worker
	queue         []*pending
	warm          bool // the site has had a connection (or is eager): keep a pool
	stopping      bool
	killed        bool // a worker had to be SIGKILLed while stopping
	seq           int
	connSeq       uint64
	slots         int // SLOTS the last ready worker declared: the guess for new ones
	failures      int // consecutive workers that failed to start
	nextSpawn     time.Time
	lastConn      time.Time // last connection accepted or finished
	stats         Stats
	statusSent    string    // the STATUS= line last sent
	gen           int       // the current generation: new workers belong to it
	failedGen     int       // a generation whose worker failed to start
	memRead       time.Time // when workers' memory was last read
	lastWatchdog  time.Time // when the broker last sent WATCHDOG=1
	reloading     *reload
	queuedReloads []chan error

	stopAt     time.Time // when stopping began
	stopReason string
	stoppedAll bool          // every worker has been told to stop
	watch      *watcher      // listen mode: waits for the first connection
	tickedAt   time.Time     // the last tick
	notify     *notifySocket // listen and proxy mode: the workers' NOTIFY_SOCKET
}

func newPool(b *Broker) (*pool, error) {
	p := &pool{
		b:      b,
		site:   b.cfg.Site,
		log:    b.log,
		events: make(chan func(), 64),
		done:   make(chan struct{}),
		slots:  1,
		warm:   b.cfg.Site.Eager,
	}
	r, err := newRelay(p)
	if err != nil {
		return nil, err
	}
	p.relay = r
	r.onError = p.acceptFailed
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
	// The loop owns its thread: the kernel places a thread by what it
	// wakes and is woken by, which a goroutine moved between threads
	// blurs (bench/notes.md has the figures). The thread must outlive
	// the loop: workers it spawned get their parent-death signal when it
	// exits.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	// While the relay waits it also holds its P (relay.wait): the
	// broker's other goroutines need another one.
	if runtime.GOMAXPROCS(0) < 2 {
		runtime.GOMAXPROCS(2)
	}
	defer func() {
		// Connects that failed in the last turn come back to the queue:
		// they were accepted, so they get the failure.
		p.relay.report()
		p.failQueue("the site is stopping")
		close(p.done)
		p.wg.Wait()
		p.relay.close()
	}()
	if err := p.open(); err != nil {
		p.closeListeners()
		return err
	}
	p.log.Info("broker ready", "event", EventReady, "mode", p.site.Mode, "sockets", len(p.b.cfg.Sockets), "lazy", !p.site.Eager)
	p.takePending()
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
		p.pace(false)
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
		case now := <-tick:
			p.tickedAt = now
			p.readQuiet()
			p.tick(now)
			p.relay.expire(now, dialTimeout)
			p.pace(true)
		default:
			return stop
		}
	}
}

// open starts taking connections the way the site's mode needs.
func (p *pool) open() error {
	switch p.site.Mode {
	case config.Handoff, config.Proxy:
		if p.site.Mode == config.Handoff {
			// Blocking sockets, which the broker never reads: a
			// worker gets its connection as accept(2) would give it.
			p.relay.acceptFlags = unix.SOCK_CLOEXEC
			p.reportBuf = make([]byte, activation.MaxMessageSize+1)
			p.oobBuf = make([]byte, unix.CmsgSpace(4*4))
		}
		for _, s := range p.b.cfg.Sockets {
			if err := p.relay.listen(s.File, s.Addr.String()); err != nil {
				return fmt.Errorf("broker: listening on %s: %w", s.Addr, err)
			}
		}
	case config.Listen:
		w, err := newWatcher(p.b.cfg.Sockets)
		if err != nil {
			return err
		}
		p.watch = w
		if !p.warm {
			p.watchFirst()
		}
	}
	// Status and control calls come through the events channel, which
	// wakes the relay.
	p.wg.Go(func() {
		for {
			select {
			case f := <-p.b.calls:
				p.post(func() { f(p) })
			case <-p.done:
				return
			}
		}
	})
	if p.site.Mode != config.Handoff {
		n, err := newNotifySocket(p.site.Name)
		if err != nil {
			return err
		}
		p.notify = n
		p.wg.Go(func() { p.notifyLoop(n) })
	}
	return nil
}

func (p *pool) closeListeners() {
	p.relay.closeListeners()
	if p.watch != nil {
		p.watch.Close()
		p.watch = nil
	}
}

// enqueue takes an accepted connection: it queues it for a worker, or
// sheds it when the queue is full.
func (p *pool) enqueue(c *pending) {
	p.stats.Accepted++
	p.lastConn = c.at
	if !p.warm {
		p.warm = true
		p.log.Info("first connection: starting the pool", "event", EventFirstConnection, "listener", c.listener)
	}
	if p.breakerOpen() && !p.halfOpen() {
		p.stats.Shed++
		p.fail(c, p.breakerReason(c.at))
		return
	}
	if len(p.queue) >= p.site.Pool.Queue && p.freeSlots() == 0 {
		p.stats.Shed++
		p.fail(c, "too many connections waiting (queue limit reached)")
		return
	}
	p.queue = append(p.queue, c)
	p.dispatch()
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
	for p.wantWorker() && p.canSpawn(now) {
		if !p.spawn(now) {
			break
		}
	}
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

// wantWorker says whether one more worker is needed now.
func (p *pool) wantWorker() bool {
	live := p.live()
	if live >= p.capacity() {
		return false
	}
	if p.site.Mode == config.Proxy {
		// One instance per backend port, once the port is free again.
		_, ok := p.freePort()
		return ok
	}
	if p.site.Mode == config.Listen {
		// Every worker accepts from the kernel queue: run the full set.
		return true
	}
	starting, idle := 0, 0
	for _, w := range p.workers {
		switch {
		case w.state == wStarting:
			starting++
		case w.state == wReady && w.held == 0 && !w.full && w.retiring == "":
			idle++
		}
	}
	if idle+starting < p.site.Pool.MinIdle {
		return true
	}
	// Grow while connections wait beyond what free and coming slots take.
	return len(p.queue) > p.freeSlots()+starting*p.slots
}

// capacity is how many workers the site runs at most.
func (p *pool) capacity() int {
	if p.site.Mode == config.Proxy {
		return len(p.site.Backend.Ports)
	}
	return p.site.Pool.Max
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

func (p *pool) ready() int {
	n := 0
	for _, w := range p.workers {
		if w.state == wReady {
			n++
		}
	}
	return n
}

func (p *pool) freeSlots() int {
	if p.site.Mode == config.Proxy {
		if p.ready() > 0 {
			return len(p.queue) + 1 // the kernel and the backends queue for us
		}
		return 0
	}
	n := 0
	for _, w := range p.workers {
		if w.state == wReady && !w.full && w.held < w.slots {
			n += w.slots - w.held
		}
	}
	return n
}

// canSpawn applies the backoff after workers failed to start.
func (p *pool) canSpawn(now time.Time) bool {
	return !now.Before(p.nextSpawn)
}

// spawn starts one worker; false when it could not be started.
func (p *pool) spawn(now time.Time) bool {
	p.seq++
	w := &worker{seq: p.seq, gen: p.gen, state: wStarting, started: now, slots: 1, maxAge: ageLimit(p.site.Pool.MaxAge)}
	spec := proc.Spec{Argv: p.site.Command, Dir: p.site.Directory}
	var child *os.File
	switch p.site.Mode {
	case config.Handoff:
		ch, c, err := channel()
		if err != nil {
			p.startFailed(now, w, err)
			return false
		}
		w.ch, child = ch, c
		spec.Files = []*os.File{c}
		spec.Env = workerEnv(p.site, append(p.watchdogEnv("ZSM_WATCHDOG_USEC"), "ZSM_CHANNEL_FD=3", "ZSM_PROTOCOL=1")...)
	case config.Listen:
		names := make([]string, len(p.b.cfg.Sockets))
		for i, s := range p.b.cfg.Sockets {
			spec.Files = append(spec.Files, s.File)
			names[i] = p.site.Name
		}
		spec.SetListenPID = true
		spec.Env = workerEnv(p.site, append(p.watchdogEnv("WATCHDOG_USEC"),
			fmt.Sprintf("LISTEN_FDS=%d", len(spec.Files)),
			"LISTEN_FDNAMES="+strings.Join(names, ":"),
			"NOTIFY_SOCKET="+p.notify.addr)...)
	case config.Proxy:
		w.port, _ = p.freePort()
		w.backend = p.site.Backend.Addr(w.port)
		w.sa, _ = resolve(w.backend) // nil fails each connect, and the probe says why
		port := fmt.Sprint(w.port)
		spec.Argv = make([]string, len(p.site.Command))
		for i, a := range p.site.Command {
			spec.Argv[i] = strings.ReplaceAll(a, "{port}", port)
		}
		spec.Env = workerEnv(p.site, append(p.watchdogEnv("WATCHDOG_USEC"), "PORT="+port, "NOTIFY_SOCKET="+p.notify.addr)...)
	}
	spec.Stdout, spec.Stderr = p.b.cfg.Stdout, p.b.cfg.Stderr
	pr, err := p.b.cfg.Spawner.Spawn(spec)
	if child != nil {
		child.Close()
	}
	if err != nil {
		if w.ch != nil {
			w.ch.Close()
		}
		p.startFailed(now, w, err)
		return false
	}
	w.proc, w.pid = pr, pr.Pid()
	p.workers = append(p.workers, w)
	p.stats.Spawned++
	p.log.Info("worker started", "event", EventWorkerStarted, "pid", w.pid, "worker", w.seq, "generation", w.gen, "command", p.site.Command[0])

	if w.ch != nil {
		var err error
		if w.chEnd, err = p.relay.watch(w); err != nil {
			p.log.Error("cannot watch the worker's channel; stopping it", "pid", w.pid, "err", err)
			w.chEnded = true
			p.stopWorker(w, err.Error())
		}
	}
	if p.site.Mode == config.Proxy {
		p.wg.Go(func() { p.probe(w) })
	}
	p.wg.Go(func() {
		st := pr.Wait()
		p.post(func() {
			p.drainChannel(w) // what it sent before it died
			p.exited(w, st)
		})
	})
	return true
}

func (p *pool) startFailed(now time.Time, w *worker, err error) {
	p.failedGen = w.gen
	p.backoff(now)
	p.setErr(fmt.Sprintf("cannot start %s (in %s): %v", p.site.Command[0], p.site.Directory, rootCause(err)))
	p.log.Error("worker failed to start", "event", EventStartFailed, "command", strings.Join(p.site.Command, " "), "err", err)
	// A worker that cannot even be started will not be ready in time:
	// answer the waiting connections now, unless another worker may serve.
	if p.live() == 0 && p.ready() == 0 {
		p.failQueue(p.stats.LastErr)
	}
}

// rootCause is the innermost error: what the user can act on ("no such
// file or directory"), without the layers that only repeat the command.
func rootCause(err error) error {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err
		}
		err = next
	}
}

func (p *pool) setErr(msg string) {
	p.stats.LastErr = msg
}

// endChannel stops reading w's channel, which has ended or is closed.
func (p *pool) endChannel(w *worker) {
	if !w.chEnded {
		w.chEnded, w.quiet = true, false
		p.relay.unwatch(w.chEnd)
	}
}

// exited handles a worker's exit.
func (p *pool) exited(w *worker, st *os.ProcessState) {
	p.remove(w)
	if w.ch != nil {
		p.endChannel(w)
		w.ch.Close()
	}
	how := proc.Describe(st)
	attrs := []any{"pid", w.pid, "worker", w.seq, "generation", w.gen, "status", how, "served", w.served}
	event := func(e string) []any { return append([]any{"event", e}, attrs...) }
	if w.held > 0 {
		p.stats.Failed += uint64(w.held)
		attrs = append(attrs, "lost", w.held)
	}
	switch {
	case !w.wasReady && !p.stopping:
		p.failedGen = w.gen
		p.stats.Restarts++
		p.backoff(time.Now())
		p.setErr(fmt.Sprintf("%s %s before it was ready", p.site.Command[0], how))
		p.log.Error("worker exited before it was ready", event(EventStartFailed)...)
		if p.live() == 0 && p.ready() == 0 {
			// Nothing else is coming: do not keep clients waiting for the
			// start timeout when the app dies at once.
			p.failQueue(p.stats.LastErr)
		}
	case w.expected || p.stopping:
		p.log.Info("worker exited", event(EventWorkerExited)...)
	default:
		p.stats.Restarts++
		p.setErr(fmt.Sprintf("%s %s", p.site.Command[0], how))
		p.log.Warn("worker exited unexpectedly", event(EventWorkerCrashed)...)
		p.backoff(time.Now())
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

// becameReady marks a starting worker ready.
func (p *pool) becameReady(w *worker, slots int) {
	if w.state != wStarting {
		return
	}
	w.state, w.wasReady = wReady, true
	w.slots = max(slots, 1)
	w.idleSince = time.Now()
	w.readyAt = w.idleSince
	w.lastPing = w.readyAt
	p.slots = w.slots
	p.nextSpawn = time.Time{}
	p.log.Info("worker ready", "event", EventWorkerReady, "pid", w.pid, "worker", w.seq, "slots", w.slots,
		"after", time.Since(w.started).Round(time.Millisecond))
	p.dispatch()
}

// draining marks w as stopping on purpose, to be killed after the stop
// timeout.
func (p *pool) draining(w *worker) {
	w.state, w.expected = wDraining, true
	w.killAt = time.Now().Add(p.site.Timeouts.Stop)
}

// stopWorker stops giving w work and asks it to finish and exit: handoff
// closes its channel, listen and proxy send SIGTERM. It is killed after the
// stop timeout.
func (p *pool) stopWorker(w *worker, reason string) {
	if w.state == wDraining {
		return
	}
	p.log.Info("stopping worker", "event", EventWorkerStopping, "pid", w.pid, "worker", w.seq, "reason", reason)
	p.draining(w)
	switch {
	case w.ch != nil:
		shutWrite(int(w.ch.Fd())) // the end of its work
	case p.site.Mode == config.Proxy && w.held > 0:
		// Stop routing now; SIGTERM once its connections are done, or
		// after a grace: kept-alive connections may never be done, and a
		// byte stream shows no request boundary to wait for.
		w.termAt = time.Now().Add(proxyGrace)
	default:
		w.proc.Signal(syscall.SIGTERM)
	}
}

// shrink stops ready spares beyond min_idle that have been idle a while,
// the longest idle first.
func (p *pool) shrink(now time.Time) {
	if p.site.Mode != config.Handoff {
		return
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

// expire kills workers that did not become ready within the start timeout
// and fails connections that waited that long with no worker ready.
func (p *pool) expire(now time.Time) {
	limit := p.site.Timeouts.Start
	notReady := func() string { return fmt.Sprintf("%s was not ready within %s", p.site.Command[0], limit) }
	starting := false
	for _, w := range p.workers {
		starting = starting || w.state == wStarting
		// A listen-mode app that never notifies shows it is ready only by
		// accepting: it is late only if connections wait for it.
		silent := p.site.Mode == config.Listen && !w.notified && !w.sawQueue
		if w.state == wStarting && now.Sub(w.started) > limit && !silent {
			p.failedGen = w.gen
			p.setErr(notReady())
			p.log.Error("worker not ready in time; killing it", "event", EventStartFailed, "pid", w.pid, "worker", w.seq, "timeout", limit)
			w.state, w.expected = wDraining, true
			w.killAt = now
			p.backoff(now)
		}
	}
	if len(p.queue) > 0 && p.ready() == 0 && now.Sub(p.queue[0].at) > limit {
		// The queue's head usually came before the worker it started, so
		// it can give up a tick before that worker is found late.
		reason := p.stats.LastErr
		switch {
		case reason != "":
		case starting:
			reason = notReady()
		default:
			reason = fmt.Sprintf("no worker was ready within %s", limit)
		}
		p.failQueue(reason)
	}
}

// idleStop scales the site to zero after idle_stop without a connection.
func (p *pool) idleStop(now time.Time) {
	d := p.site.Pool.IdleStop
	if d == 0 || p.site.Mode == config.Listen || p.site.Eager || len(p.queue) > 0 || len(p.workers) == 0 {
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
		p.log.Info("idle: stopping every worker and exiting; systemd starts the broker again on the next connection", "event", EventIdle, "idle_stop", d)
		p.beginStop("idle_stop")
		return
	}
	p.log.Info("idle: stopping every worker", "event", EventIdle, "idle_stop", d)
	for _, w := range p.workers {
		p.stopWorker(w, "idle_stop")
	}
	p.warm = false
}

// watchdogEnv tells a worker its watchdog interval under the name its
// mode uses, when the site watches its workers.
func (p *pool) watchdogEnv(name string) []string {
	if d := p.site.Timeouts.Watchdog; d > 0 {
		return []string{fmt.Sprintf("%s=%d", name, d.Microseconds())}
	}
	return nil
}

// tick runs the timers: SIGKILL for workers past their stop timeout.
func (p *pool) tick(now time.Time) {
	if d := p.b.cfg.Watchdog; d > 0 && now.Sub(p.lastWatchdog) >= d/2 {
		p.lastWatchdog = now
		p.sdNotify("WATCHDOG=1")
	}
	for _, w := range p.workers {
		if !w.termAt.IsZero() && now.After(w.termAt) {
			w.termAt = time.Time{}
			w.proc.Signal(syscall.SIGTERM)
		}
		if w.state == wDraining && !w.killAt.IsZero() && now.After(w.killAt) {
			p.log.Warn("worker still running after the stop timeout; killing it", "event", EventWorkerKilled, "pid", w.pid, "worker", w.seq)
			w.proc.Signal(syscall.SIGKILL)
			w.killAt = time.Time{}
			if p.stopping {
				p.killed = true
			}
		}
	}
	if p.site.Mode == config.Listen {
		p.listenReadiness()
	}
	p.notifyStatus()
}

// beginStop stops taking connections: those not accepted yet wait in the
// kernel queue for the next broker. stopStep then serves every connection
// already accepted and drains the workers.
func (p *pool) beginStop(reason string) {
	p.stopping = true
	p.stopAt = time.Now()
	p.stopReason = reason
	p.sdNotify("STOPPING=1")
	p.log.Info("stopping", "event", EventStopping, "reason", reason, "workers", len(p.workers), "queued", len(p.queue))
	p.closeListeners()
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
		p.stopNotify()
	}
	return len(p.workers) == 0
}

func (p *pool) stopNotify() {
	if p.notify != nil {
		p.notify.Close()
	}
}

// dispatch hands queued connections to workers.
func (p *pool) dispatch() {
	for len(p.queue) > 0 {
		// Reading a worker's DONEs may dispatch, all of the queue even.
		if p.readFilling(); len(p.queue) == 0 {
			return
		}
		w := p.pick()
		if w == nil {
			return
		}
		c := p.queue[0]
		if err := p.handTo(w, c); err != nil {
			continue // handTo took w out of rotation; try another
		}
		p.queue[0] = nil
		p.queue = p.queue[1:]
		if len(p.queue) == 0 {
			p.queue = nil
		}
	}
}

// pick returns the least-loaded ready worker with a free slot, the one
// idle longest among equals.
func (p *pool) pick() *worker {
	var best *worker
	for _, w := range p.workers {
		if w.state != wReady || w.full || (p.site.Mode == config.Handoff && w.held >= w.slots) {
			continue
		}
		switch {
		case best == nil:
			best = w
		case (w.retiring == "") != (best.retiring == ""):
			// A worker being recycled takes connections only when no other can.
			if w.retiring == "" {
				best = w
			}
		case w.held < best.held || (w.held == best.held && w.lastUse < best.lastUse):
			best = w
		}
	}
	return best
}

// handTo gives c to w.
func (p *pool) handTo(w *worker, c *pending) error {
	p.connSeq++
	switch p.site.Mode {
	case config.Handoff:
		err := sendConn(w.ch, activation.Handoff{ID: p.connSeq, Listener: c.listener, Peer: sockaddrString(c.peer)}, c.fd)
		if errors.Is(err, syscall.EAGAIN) {
			w.full = true
			return err
		}
		if err != nil {
			p.stopWorker(w, "its channel failed: "+err.Error())
			return err
		}
		syscall.Close(c.fd)
		if w.ids == nil {
			w.ids = map[uint64]struct{}{}
		}
		w.ids[p.connSeq] = struct{}{}
	case config.Proxy:
		p.relay.connect(w, c)
	}
	w.held++
	w.lastUse = p.connSeq
	return nil
}

// finished counts a connection w finished.
func (p *pool) finished(w *worker) {
	if w.held == 0 {
		return
	}
	w.held--
	w.served++
	w.full = false
	p.stats.Served++
	p.proven(w)
	p.lastConn = time.Now()
	if w.held == 0 {
		w.idleSince = p.lastConn
	}
	if w.state == wDraining && w.held == 0 && !w.termAt.IsZero() {
		w.termAt = time.Time{}
		w.proc.Signal(syscall.SIGTERM)
	}
	p.dispatch()
}

// storeQueue hands the connections still waiting at the end of a stop to
// the service manager's fd store, so the next broker serves them; what
// cannot be stored gets the explicit failure.
func (p *pool) storeQueue() {
	stored := 0
	for _, c := range p.queue {
		if p.store(c) {
			stored++
			continue
		}
		p.stats.Shed++
		p.fail(c, "the site is stopping")
	}
	if stored > 0 {
		p.log.Info("stored accepted connections for the next broker", "event", EventStored, "connections", stored)
	}
	p.queue = nil
}

func (p *pool) store(c *pending) bool {
	st := p.b.cfg.Store
	if st == nil {
		return false
	}
	if c.end != nil && c.end.p != nil {
		return false // the next broker would not see what the client sent
	}
	f := os.NewFile(uintptr(c.fd), StoredConn)
	defer f.Close()
	if err := st.StoreFD(StoredConn, f); err != nil {
		p.log.Warn("cannot store a connection for the next broker", "event", EventNotice, "err", err)
		c.fd, _ = unix.Dup(int(f.Fd()))
		return false
	}
	return true
}

// takePending queues the connections a previous broker stored.
func (p *pool) takePending() {
	for _, f := range p.b.cfg.Pending {
		fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
		f.Close()
		if err != nil {
			continue
		}
		unix.SetNonblock(fd, p.site.Mode == config.Proxy)
		c := &pending{fd: fd, at: time.Now()}
		if sa, err := peername(fd); err == nil {
			c.peer = sa
		}
		if p.site.Mode == config.Listen {
			// Workers take connections from the kernel queue only.
			p.fail(c, "restarting")
			continue
		}
		p.enqueue(c)
	}
	if n := len(p.b.cfg.Pending); n > 0 {
		p.log.Info("took over connections the previous broker stored", "event", EventStored, "connections", n)
	}
}

// failQueue answers every waiting connection with the explicit failure.
func (p *pool) failQueue(reason string) {
	for _, c := range p.queue {
		p.stats.Shed++
		p.fail(c, reason)
	}
	p.queue = nil
}

// fail answers a connection the site cannot serve: 503 with the reason for
// http sites, a close otherwise.
func (p *pool) fail(c *pending, reason string) {
	p.log.Warn("connection refused", "event", EventRefused, "listener", c.listener, "peer", sockaddrString(c.peer), "reason", reason)
	if c.end != nil {
		p.relay.release(c.end)
	}
	f := os.NewFile(uintptr(c.fd), "conn")
	conn, err := net.FileConn(f)
	if err != nil {
		// Out of fds (net.FileConn takes one more): answer right here.
		refuseNow(c.fd, p.site, reason)
	}
	f.Close()
	if err != nil {
		return
	}
	if p.site.Protocol != config.HTTP {
		conn.Close()
		return
	}
	p.wg.Go(func() { Refuse(conn, p.site, reason) })
}

func (p *pool) sdNotify(state string) {
	if n := p.b.cfg.Notify; n != nil {
		if err := n.Notify(state); err != nil {
			p.log.Debug("sd_notify failed", "err", err)
		}
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

// freePort returns a backend port no worker uses, draining ones included.
func (p *pool) freePort() (int, bool) {
	used := map[int]bool{}
	for _, w := range p.workers {
		used[w.port] = true
	}
	for _, port := range p.site.Backend.Ports {
		if !used[port] {
			return port, true
		}
	}
	return 0, false
}
