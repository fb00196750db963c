package broker

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// The relay is the broker's event loop, built the way haproxy's is: one
// epoll set, waited on by the pool's own goroutine, holds the listening
// sockets and, in handoff mode, the workers' channels; in proxy mode the
// accepted connections and their backend connections too (in listen mode,
// where workers accept, only its wakeup). Accepting,
// handing off or connecting, reading reports and copying all happen on
// that goroutine, as non-blocking syscalls, with no goroutine per
// connection and no hop between threads; proxied bytes move with
// splice(2) and never enter the broker's memory. Other goroutines reach
// the pool through its events channel and an eventfd that wakes the wait.
//
// Sockets are registered level-triggered, for reading only: a wakeup reads
// once, and epoll says again when more is left. Writability is asked for
// only while a peer cannot take what was read, and reading that side stops
// meanwhile, so that a slow reader holds back a fast writer.

// relayOwner is told what becomes of the relay's connections: the pool
// (or a test).
type relayOwner interface {
	// enqueue takes an accepted connection: to hand off, to connect with
	// relay.connect, or to fail.
	enqueue(c *pending)
	// acceptFailed is told that accept(2) failed on a listening socket,
	// which is paused until the next tick.
	acceptFailed(listener string, err error)
	// readChannel reads reports waiting on a watched channel.
	readChannel(w *worker)
	// finished counts a connection that w's backend and its client ended.
	finished(w *worker)
	// timedOut counts a connection that w's backend did not answer in
	// time: its client got the explicit failure.
	timedOut(w *worker, after time.Duration)
	// connectFailed gives back a connection whose backend did not answer:
	// nothing it sent has been lost, and it may be connected again.
	connectFailed(w *worker, c *pending, err error)
}

type relay struct {
	owner  relayOwner
	ep     int           // the epoll set
	wake   int           // eventfd: work from other goroutines
	kicked atomic.Bool   // wake has been written and not read
	wakeMu sync.Mutex    // guards wake's closing against kick
	closed bool          // guarded by wakeMu
	ends   []*end        // by fd: the sockets in the set
	seq    uint32        // tells an fd's registrations apart
	pipes  pipes         // pipes for bytes in flight
	failed []dialFailure // connects that failed, for the owner
	ended  []endedPair   // pairs finished or timed out, for the owner
	evs    [128]unix.EpollEvent
	// connected counts how long proxied connections took from accept
	// to their backend connection being up; nil counts nothing.
	connected *histogram
	// idle says the last wait took idleWait or longer; runtimeWaits
	// counts the waits made through the runtime (see wait).
	idle         bool
	runtimeWaits int
	// shareP says the loop must not hold its P while it waits: it has
	// the only one (GOMAXPROCS 1).
	shareP bool
	// acceptFlags are accept4's: non-blocking sockets for the relay's
	// own copying, blocking ones to hand to workers.
	acceptFlags int
	// clock is the time the last wait returned: the time of what it
	// handles.
	clock time.Time
	// timeoutReply is what a client whose backend did not answer in time
	// gets before the close (a 504 for http sites); nil: just the close.
	timeoutReply []byte
}

// end is one socket in the relay: a listening socket, a worker's channel,
// a client's connection or a backend connection. An end owns its fd and
// the relay closes it (drop), except a channel's, which its worker owns.
type end struct {
	fd     int
	seq    uint32
	mask   uint32 // the events it is registered for
	listen string // a listening socket: its name

	peer *end
	p    *pipe   // bytes read from fd, not yet written to peer
	eof  bool    // fd's end was read
	shut bool    // and passed on: peer's write side is shut
	ch   *worker // a worker's channel: whose
	// A backend connection's:
	w       *worker
	c       *pending  // its client's connection, while it is connecting
	paused  bool      // a listening socket that is not polled until the next tick
	parked  bool      // out of the set after a hangup, until its peer takes its bytes
	dialing bool      // not known to be up yet
	dialed  time.Time // when its connect began
	waiting time.Time // bytes went to this backend, and none came back since
	active  bool      // bytes were read from fd since the last tick
	quiet   time.Time // a backend connection's: since when neither end read a byte (at a tick)
}

// endedPair is a pair the relay ended: finished, or timed out after
// timedOut.
type endedPair struct {
	w        *worker
	timedOut time.Duration
}

type dialFailure struct {
	w   *worker
	c   *pending
	err error
}

func newRelay(owner relayOwner) (*relay, error) {
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	wake, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(ep)
		return nil, os.NewSyscallError("eventfd", err)
	}
	r := &relay{owner: owner, ep: ep, wake: wake, acceptFlags: unix.SOCK_NONBLOCK | unix.SOCK_CLOEXEC,
		shareP: runtime.GOMAXPROCS(0) < 2}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wake)}
	if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, wake, &ev); err != nil {
		r.close()
		return nil, os.NewSyscallError("epoll_ctl", err)
	}
	return r, nil
}

// listenAll adds the site's listening sockets; connections are accepted
// with flags (accept4(2)).
func (r *relay) listenAll(socks []Socket, flags int) error {
	r.acceptFlags = flags
	for _, s := range socks {
		if err := r.listen(s.File, s.Addr.String()); err != nil {
			return fmt.Errorf("broker: listening on %s: %w", s.Addr, err)
		}
	}
	return nil
}

// listen adds a listening socket: a non-blocking duplicate of f.
func (r *relay) listen(f *os.File, name string) error {
	fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return os.NewSyscallError("dup", err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return os.NewSyscallError("setnonblock", err)
	}
	// Accepted connections inherit it: no Nagle delay on what the
	// backends answer.
	unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	if err := r.add(&end{fd: fd, listen: name}); err != nil {
		unix.Close(fd)
		return err
	}
	return nil
}

// closeListeners stops accepting. The sockets stay open in the broker's
// other copies: their connections wait in the kernel queue.
func (r *relay) closeListeners() {
	for _, e := range r.ends {
		if e != nil && e.listen != "" {
			r.detach(e)
			unix.Close(e.fd)
		}
	}
}

// kick wakes wait from another goroutine; after close it does nothing.
func (r *relay) kick() {
	if r.kicked.Swap(true) {
		return
	}
	r.wakeMu.Lock()
	defer r.wakeMu.Unlock()
	if !r.closed {
		one := [8]byte{1}
		unix.Write(r.wake, one[:])
	}
}

// idleWait is how long a wait lasts before the loop counts as idle.
const idleWait = 2 * time.Millisecond

// wait waits up to timeout for sockets, handles what they have and
// returns; it returns at once when kicked.
//
// A busy loop waits without telling the runtime (epollWait), as a C event
// loop would: its goroutine keeps its P, and the runtime's monitor does not
// wake every 20 µs to take the P back. A loop whose last wait took
// idleWait or longer waits through the runtime, so that the monitor lets
// it sleep rather than preempt it every 10–20 ms. Either way the runtime
// stops the loop when it must: its signal ends the wait with EINTR. A loop
// that has the process's only P always waits through the runtime, so that
// the broker's other goroutines run meanwhile.
func (r *relay) wait(timeout time.Duration) {
	r.report()
	ms := max(int((timeout+time.Millisecond-1)/time.Millisecond), 0)
	var n int
	var err error
	start := time.Now()
	if r.idle || r.shareP {
		r.runtimeWaits++
		n, err = unix.EpollWait(r.ep, r.evs[:], ms)
	} else {
		n, err = epollWait(r.ep, r.evs[:], ms)
	}
	r.clock = time.Now()
	r.idle = r.clock.Sub(start) >= idleWait
	if err != nil {
		return // EINTR
	}
	for _, ev := range r.evs[:n] {
		fd := int(ev.Fd)
		if fd == r.wake {
			var b [8]byte
			unix.Read(r.wake, b[:])
			r.kicked.Store(false)
			continue
		}
		if fd >= len(r.ends) || r.ends[fd] == nil || r.ends[fd].seq != uint32(ev.Pad) {
			continue // closed by an earlier event of this wakeup
		}
		e := r.ends[fd]
		switch {
		case e.listen != "":
			r.accept(e)
		case e.ch != nil:
			r.owner.readChannel(e.ch)
		default:
			r.event(e, ev.Events)
		}
		r.report()
	}
}

// event handles what epoll says of a connection.
func (r *relay) event(e *end, ev uint32) {
	if ev&unix.EPOLLOUT != 0 && ev&unix.EPOLLERR == 0 {
		r.up(e) // a connect that completed
	}
	if ev&(unix.EPOLLOUT|unix.EPOLLERR|unix.EPOLLHUP) != 0 {
		r.pump(e.peer, false)
	}
	if ev&(unix.EPOLLIN|unix.EPOLLERR|unix.EPOLLHUP) != 0 && r.ends[e.fd] == e {
		r.pump(e, true)
	}
	if ev&(unix.EPOLLERR|unix.EPOLLHUP) == 0 || r.ends[e.fd] != e {
		return
	}
	// epoll reports an error or a hangup whatever e is registered for,
	// on every wait: settle it, or the loop spins. An error ends the pair
	// (the kernel has dropped what the socket held). A hangup means e's
	// peer has sent its end and e's own end was passed on: what is left
	// is reading e, which the read above did unless e waits for its peer
	// to take bytes already read; then e leaves the set until they are
	// taken.
	if ev&unix.EPOLLERR != 0 {
		err := error(unix.ECONNRESET)
		if n, serr := unix.GetsockoptInt(e.fd, unix.SOL_SOCKET, unix.SO_ERROR); serr == nil && n != 0 {
			err = unix.Errno(n)
		}
		r.broken(e, err)
		return
	}
	if e.mask&unix.EPOLLIN == 0 {
		r.detach(e)
		e.parked = true
	}
}

// report tells the owner what became of connections since the last call:
// never from inside the relay's own calls, so that the owner may connect
// and close connections in return.
func (r *relay) report() {
	// The owner's calls may add to either list; both keep their arrays.
	for len(r.ended)+len(r.failed) > 0 {
		for i := 0; i < len(r.ended); i++ {
			if e := r.ended[i]; e.timedOut > 0 {
				r.owner.timedOut(e.w, e.timedOut)
			} else {
				r.owner.finished(e.w)
			}
		}
		clear(r.ended)
		r.ended = r.ended[:0]
		for i := 0; i < len(r.failed); i++ {
			f := r.failed[i]
			r.owner.connectFailed(f.w, f.c, f.err)
		}
		clear(r.failed)
		r.failed = r.failed[:0]
	}
}

// accept takes the connections waiting on a listening socket, up to a
// batch: epoll reports the rest.
func (r *relay) accept(l *end) {
	for range maxBatch {
		fd, sa, err := accept4(l.fd, r.acceptFlags)
		switch err {
		case nil:
		case unix.EINTR, unix.ECONNABORTED:
			continue
		case unix.EAGAIN:
			return
		default:
			r.owner.acceptFailed(l.listen, err)
			// Out of fds or memory: try again at the next tick
			// rather than spin.
			l.paused = true
			r.want(l, 0, unix.EPOLLIN)
			return
		}
		r.owner.enqueue(&pending{sock: own(fd), listener: l.listen, peer: sa, at: time.Now()})
	}
}

// watch adds w's channel, for its reports.
func (r *relay) watch(w *worker) (*end, error) {
	e := &end{fd: int(w.ch.f.Fd()), ch: w}
	if err := r.add(e); err != nil {
		return nil, err
	}
	return e, nil
}

// hear says whether the relay wakes for a channel's reports.
func (r *relay) hear(e *end, on bool) {
	if on {
		r.want(e, unix.EPOLLIN, 0)
	} else {
		r.want(e, 0, unix.EPOLLIN)
	}
}

// unwatch takes a channel out before it is closed.
func (r *relay) unwatch(e *end) {
	if e != nil {
		r.detach(e)
	}
}

// add registers e for reading.
func (r *relay) add(e *end) error {
	r.seq++
	e.seq, e.mask = r.seq, unix.EPOLLIN
	ev := unix.EpollEvent{Events: e.mask, Fd: int32(e.fd), Pad: int32(e.seq)}
	if err := epollCtl(r.ep, unix.EPOLL_CTL_ADD, e.fd, &ev); err != nil {
		return os.NewSyscallError("epoll_ctl", err)
	}
	for len(r.ends) <= e.fd {
		r.ends = append(r.ends, nil)
	}
	r.ends[e.fd] = e
	return nil
}

// want changes the events e is registered for.
func (r *relay) want(e *end, set, clear uint32) {
	m := e.mask&^clear | set
	if m == e.mask || r.ends[e.fd] != e {
		return
	}
	e.mask = m
	ev := unix.EpollEvent{Events: m, Fd: int32(e.fd), Pad: int32(e.seq)}
	epollCtl(r.ep, unix.EPOLL_CTL_MOD, e.fd, &ev)
}

// detach takes e out of the set, leaving its fd open.
func (r *relay) detach(e *end) {
	if e.fd < len(r.ends) && r.ends[e.fd] == e {
		epollCtl(r.ep, unix.EPOLL_CTL_DEL, e.fd, nil)
		r.ends[e.fd] = nil
	}
}

// drop closes e, which no other fd shares: closing takes it out of the set.
func (r *relay) drop(e *end) {
	if e.fd < len(r.ends) && r.ends[e.fd] == e {
		r.ends[e.fd] = nil
	}
	r.release(e)
	closeFD(e.fd)
}

// release gives back e's pipe: bytes still in it are lost.
func (r *relay) release(e *end) {
	if e.p != nil {
		r.pipes.put(e.p)
		e.p = nil
	}
}

// close closes everything: connections still open are cut.
func (r *relay) close() {
	r.closeListeners()
	for _, e := range r.ends {
		switch {
		case e == nil:
		case e.ch != nil:
			r.detach(e) // the pool closes it
		default:
			r.drop(e)
		}
	}
	r.pipes.close()
	unix.Close(r.ep)
	r.wakeMu.Lock()
	r.closed = true
	unix.Close(r.wake)
	r.wakeMu.Unlock()
}
