package broker

import (
	"log/slog"
	"net"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/zsm-dev/zsm/internal/config"
	"github.com/zsm-dev/zsm/internal/event"
)

// pending is an accepted connection waiting for a worker.
type pending struct {
	sock     ownedFD // the accepted socket, until a relay end takes it
	end      *end    // proxy: its place in the relay once connected to a backend; it owns the socket then
	listener string
	peer     unix.Sockaddr // the client's address, formatted only when needed
	at       time.Time
	retries  int // proxy: backends that failed to take it
	// slowSince is when the request the slow log last logged on it began
	// (requests.go): each request is logged once.
	slowSince time.Time
}

// fd is the connection's socket, whoever holds it.
func (c *pending) fd() int {
	if c.end != nil {
		return c.end.fd
	}
	return c.sock.fd()
}

// take gives up c's socket, and the bytes a relay end still held for it:
// the caller owns the returned fd.
func (p *pool) take(c *pending) int {
	if e := c.end; e != nil {
		c.end = nil
		p.relay.release(e)
		return e.fd
	}
	return c.sock.take()
}

// enqueue takes an accepted connection: it queues it for a worker, or
// sheds it when the queue is full.
func (p *pool) enqueue(c *pending) {
	p.stats.Accepted++
	p.lastConn = c.at
	if !p.warm {
		p.warm = true
		p.emit(event.Event{Kind: event.FirstConnection, Message: "first connection: starting the pool", Attrs: attrs("listener", c.listener)})
	}
	if p.breakerOpen() && !p.halfOpen() {
		p.stats.Shed++
		p.fail(c, p.breakerReason(c.at))
		return
	}
	if len(p.queue) >= p.site.Pool.Queue && p.m.freeSlots(p) == 0 {
		p.stats.Shed++
		p.fail(c, "too many connections waiting (queue limit reached)")
		return
	}
	p.queue = append(p.queue, c)
	p.dispatch()
}

// dispatch hands queued connections to workers.
func (p *pool) dispatch() {
	for len(p.queue) > 0 {
		// Reading a worker's reports may dispatch, all of the queue even.
		if p.m.settle(p); len(p.queue) == 0 {
			return
		}
		w := p.pick()
		if w == nil {
			return
		}
		c := p.queue[0]
		p.connSeq++
		picked := time.Now()
		if err := p.m.hand(p, w, c); err != nil {
			continue // hand took w out of rotation; try another
		}
		if c.retries == 0 {
			p.latency.queueWait.observe(picked.Sub(c.at))
		}
		w.held++
		w.lastUse = p.connSeq
		p.queue[0] = nil
		p.queue = p.queue[1:]
		if len(p.queue) == 0 {
			p.queue = nil
		}
	}
}

// pick returns the least-loaded ready worker that takes a connection, the
// one idle longest among equals; a worker being recycled only when no
// other can.
func (p *pool) pick() *worker {
	var best *worker
	for _, w := range p.workers {
		if w.state != wReady || w.full || !p.m.takes(w) {
			continue
		}
		switch {
		case best == nil:
			best = w
		case (w.retiring == "") != (best.retiring == ""):
			if w.retiring == "" {
				best = w
			}
		case w.held < best.held || (w.held == best.held && w.lastUse < best.lastUse):
			best = w
		}
	}
	return best
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
	if w.state == wDraining && w.held == 0 {
		p.m.drained(p, w)
	}
	p.dispatch()
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
// http sites, a close otherwise. It takes c's socket.
func (p *pool) fail(c *pending, reason string) {
	p.emit(event.Event{Kind: event.Refused, Level: slog.LevelWarn, Message: "connection refused", Reason: reason,
		Attrs: attrs("listener", c.listener, "peer", sockaddrString(c.peer))})
	fd := p.take(c)
	f := os.NewFile(uintptr(fd), "conn")
	conn, err := net.FileConn(f)
	if err != nil {
		// Out of fds (net.FileConn takes one more): answer right here.
		refuseNow(fd, p.site, reason)
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
		p.emit(event.Event{Kind: event.Stored, Message: "stored accepted connections for the next broker", Attrs: attrs("connections", stored)})
	}
	p.queue = nil
}

// store puts c in the fd store and closes the broker's copy.
func (p *pool) store(c *pending) bool {
	st := p.b.cfg.Store
	if st == nil {
		return false
	}
	if c.end != nil && c.end.p != nil {
		return false // the next broker would not see what the client sent
	}
	if err := st.StoreFD(StoredConn, c.fd()); err != nil {
		p.emit(event.Event{Kind: event.Notice, Level: slog.LevelWarn, Message: "cannot store a connection for the next broker", Err: err.Error()})
		return false
	}
	closeFD(p.take(c))
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
		unix.SetNonblock(fd, p.relay.acceptFlags&unix.SOCK_NONBLOCK != 0)
		c := &pending{sock: own(fd), at: time.Now()}
		if sa, err := peername(fd); err == nil {
			c.peer = sa
		}
		if !p.traits.accepts {
			// Workers take connections from the kernel queue only.
			p.fail(c, "restarting")
			continue
		}
		p.enqueue(c)
	}
	if n := len(p.b.cfg.Pending); n > 0 {
		p.emit(event.Event{Kind: event.Stored, Message: "took over connections the previous broker stored", Attrs: attrs("connections", n)})
	}
}
