package broker

import (
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// Proxy mode's half of the relay: connecting accepted clients to backends
// and copying bytes between the two with splice(2).

// connect connects c to w's backend, and starts copying what c sent.
func (r *relay) connect(w *worker, c *pending) {
	fd, err := dial(w.be.sa)
	if err != nil {
		r.failed = append(r.failed, dialFailure{w, c, err})
		return
	}
	cl := c.end
	if cl == nil {
		cl = &end{fd: c.sock.take()}
		c.end = cl
	}
	cl.shut = false // its end, if it ended, is not passed on yet
	b := &end{fd: fd, w: w, c: c, dialing: true, dialed: time.Now()}
	cl.peer, b.peer = b, cl
	if err := r.add(b); err != nil {
		unix.Close(fd)
		r.failed = append(r.failed, dialFailure{w, c, err})
		return
	}
	if err := r.add(cl); err != nil {
		r.drop(b)
		r.failed = append(r.failed, dialFailure{w, c, err})
		return
	}
	// A client usually has sent its request by now: pass it on at once
	// (a connect on this host is done when connect(2) returns).
	r.pump(cl, true)
}

// dial starts a non-blocking connect to sa.
func dial(sa unix.Sockaddr) (int, error) {
	family := unix.AF_INET
	switch sa.(type) {
	case nil:
		return -1, errors.New("the backend's address does not resolve")
	case *unix.SockaddrInet6:
		family = unix.AF_INET6
	}
	fd, _, e := unix.RawSyscall(unix.SYS_SOCKET, uintptr(family), unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if e != 0 {
		return -1, os.NewSyscallError("socket", e)
	}
	noDelay(int(fd))
	if err := connect(int(fd), sa); err != nil && err != unix.EINPROGRESS {
		closeFD(int(fd))
		return -1, os.NewSyscallError("connect", err)
	}
	return int(fd), nil
}

// pump writes what src read to its peer, then, when read is set, reads
// src once more and writes that.
func (r *relay) pump(src *end, read bool) {
	for {
		if src.p != nil && !r.flush(src) {
			return
		}
		if src.eof {
			r.passEnd(src)
			return
		}
		if !read || !r.fill(src) {
			return
		}
		read = false
	}
}

// flush writes the bytes read from src to its peer. It reports false when
// the pump must stop here: the peer cannot take them yet, or broke.
func (r *relay) flush(src *end) bool {
	dst := src.peer
	for src.p.n > 0 {
		m, err := splice(src.p.r, dst.fd, src.p.n)
		if err == unix.EAGAIN {
			// dst is full, or still connecting: read no more from src
			// until dst takes this.
			r.want(dst, unix.EPOLLOUT, 0)
			r.want(src, 0, unix.EPOLLIN)
			return false
		}
		if err != nil {
			r.broken(dst, err)
			return false
		}
		src.p.n -= m
		r.up(dst)
	}
	r.pipes.put(src.p)
	src.p = nil
	if dst.w != nil && dst.waiting.IsZero() {
		dst.waiting = r.clock // a backend owes an answer
	}
	r.want(dst, 0, unix.EPOLLOUT)
	switch {
	case src.eof:
	case src.parked:
		src.parked = false
		if err := r.add(src); err != nil {
			r.broken(src, err)
			return false
		}
	default:
		r.want(src, unix.EPOLLIN, 0)
	}
	return true
}

// passEnd passes on the end of what src sends: its peer's write side is
// shut, and once both ways are done the pair is finished.
func (r *relay) passEnd(src *end) {
	dst := src.peer
	if src.shut {
		return
	}
	if dst.dialing {
		// Shutting a connecting socket would abort the connect: pass the
		// end on once it is up.
		r.want(dst, unix.EPOLLOUT, 0)
		r.want(src, 0, unix.EPOLLIN)
		return
	}
	src.shut = true
	if dst.shut {
		r.finish(src) // both ways are done
		return
	}
	shutWrite(dst.fd)
	r.want(src, 0, unix.EPOLLIN)
	r.want(dst, 0, unix.EPOLLOUT)
}

// fill reads src once into a pipe. It reports false when there is nothing
// more to do now: nothing to read, or src broke.
func (r *relay) fill(src *end) bool {
	p, err := r.pipes.get()
	if err != nil {
		r.broken(src, err)
		return false
	}
	n, err := splice(src.fd, p.w, spliceChunk)
	switch {
	case err == unix.EAGAIN:
		r.pipes.put(p)
		return false
	case err != nil:
		r.pipes.put(p)
		r.broken(src, err)
		return false
	case n == 0:
		r.pipes.put(p)
		src.eof = true
	default:
		p.n = n
		src.p = p
		src.active = true
		src.waiting = time.Time{}
		r.up(src)
	}
	return true
}

// up notes that a backend connection works: it took or gave bytes.
func (r *relay) up(e *end) {
	if e.dialing {
		r.connected.observe(time.Since(e.c.at))
		e.dialing, e.c = false, nil
	}
}

// broken handles a failed read or write on e: a backend that never came
// up gives its client back to the owner, with what it sent; otherwise the
// pair is closed.
func (r *relay) broken(e *end, err error) {
	if e.dialing {
		r.redial(e, err)
		return
	}
	r.finish(e)
}

// redial drops a backend connection that did not come up and detaches its
// client, for the owner to connect it again.
func (r *relay) redial(b *end, err error) {
	cl, c := b.peer, b.c
	r.drop(b)
	r.detach(cl)
	cl.peer = nil
	r.failed = append(r.failed, dialFailure{b.w, c, err})
}

// expire fails the connects older than connect, ends the pairs whose
// backend owes an answer for longer than firstByte and those idle for
// longer than idle, and polls the listening sockets paused since the last
// call; call it at every tick.
func (r *relay) expire(now time.Time, connect, firstByte, idle time.Duration) {
	for _, e := range r.ends {
		switch {
		case e == nil:
		case e.paused:
			e.paused = false
			r.want(e, unix.EPOLLIN, 0)
		case !e.waiting.IsZero() && now.Sub(e.waiting) > firstByte:
			r.timeout(e, now.Sub(e.waiting))
		case e.w != nil && e.w.signaled && e.peer != nil && e.waiting.IsZero() &&
			e.p == nil && e.peer.p == nil && quietFor(e, now) > 0:
			// Its server is stopping: a connection that carries nothing, and
			// owes no answer, is closed as a stopping server closes its idle
			// kept-alive ones (a server may wait for a request on it).
			r.finish(e)
		case idle > 0 && e.w != nil && !e.dialing && e.peer != nil && quietFor(e, now) > idle:
			r.finish(e) // neither side said anything for idle: both are closed
		case !e.dialing || now.Sub(e.dialed) < connect:
		case isConnected(e.fd):
			r.up(e) // connected, and nothing to say yet
		default:
			r.redial(e, fmt.Errorf("connect: %w", os.ErrDeadlineExceeded))
		}
	}
}

// timeout ends the pair of backend b, which owes its client an answer:
// the client gets timeoutReply, unless some of the answer is on its way.
func (r *relay) timeout(b *end, after time.Duration) {
	cl := b.peer
	if r.timeoutReply != nil && b.p == nil {
		unix.SendmsgN(cl.fd, r.timeoutReply, nil, nil, unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL)
	}
	shutWrite(cl.fd)
	r.drop(b)
	r.drop(cl)
	r.ended = append(r.ended, endedPair{w: b.w, timedOut: after})
}

// quietFor says how long neither end of backend connection b has read a
// byte, as seen at the ticks.
func quietFor(b *end, now time.Time) time.Duration {
	if b.active || b.peer.active || b.quiet.IsZero() {
		b.active, b.peer.active, b.quiet = false, false, now
		return 0
	}
	return now.Sub(b.quiet)
}

func isConnected(fd int) bool {
	_, err := peername(fd)
	return err == nil
}

// finish closes e and its peer, and counts the connection done.
func (r *relay) finish(e *end) {
	b := e
	if b.w == nil {
		b = e.peer
	}
	r.drop(e)
	r.drop(e.peer)
	r.ended = append(r.ended, endedPair{w: b.w})
}
