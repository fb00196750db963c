package broker

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/zsm-dev/zsm/activation"
	"github.com/zsm-dev/zsm/internal/config"
)

// channel makes a worker's channel: the broker's end, and the worker's end
// to pass as its fd 3 (the caller closes it once the worker has started).
func channel() (*net.UnixConn, *os.File, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, os.NewSyscallError("socketpair", err)
	}
	mine := os.NewFile(uintptr(fds[0]), "channel")
	defer mine.Close()
	c, err := net.FileConn(mine)
	if err != nil {
		unix.Close(fds[1])
		return nil, nil, err
	}
	return c.(*net.UnixConn), os.NewFile(uintptr(fds[1]), "worker channel"), nil
}

// sendConn sends one connection to a worker in a single non-blocking
// attempt: EAGAIN means the worker's channel is full. The caller still owns
// fd afterwards and closes it once the send succeeded.
func sendConn(ch *net.UnixConn, h activation.Handoff, fd int) error {
	b, err := h.Message().Format()
	if err != nil {
		return err
	}
	rc, err := ch.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = rc.Write(func(s uintptr) bool {
		serr = unix.Sendmsg(int(s), b, unix.UnixRights(fd), nil, unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL)
		return true
	})
	if err != nil {
		return err
	}
	return serr
}

// readChannel reads a worker's reports until its channel ends. A malformed
// report stops the worker; nothing a worker sends can crash the broker.
// Reports that arrived together are applied together, in order: under
// load a wakeup brings several DONEs, and the pool takes them in one go.
func (p *pool) readChannel(w *worker) {
	rc, err := w.ch.SyscallConn()
	if err != nil {
		p.post(func() { p.channelClosed(w) })
		return
	}
	buf := make([]byte, activation.MaxMessageSize+1)
	oob := make([]byte, unix.CmsgSpace(4*4))
	for {
		var batch []func()
		ended := false
		err := rc.Read(func(fd uintptr) bool {
			for len(batch) < maxBatch {
				n, oobn, flags, _, err := unix.Recvmsg(int(fd), buf, oob, unix.MSG_DONTWAIT|unix.MSG_CMSG_CLOEXEC)
				if err == unix.EAGAIN || err == unix.EINTR {
					return len(batch) > 0 // nothing yet: wait for more
				}
				if oobn > 0 {
					closeRights(oob[:oobn]) // workers send no fds
				}
				if err != nil || n == 0 {
					if err == nil || err == unix.ECONNRESET {
						batch = append(batch, func() { p.channelClosed(w) })
					} else {
						batch = append(batch, func() { p.malformed(w, os.NewSyscallError("recvmsg", err)) })
					}
					ended = true
					return true
				}
				if flags&(unix.MSG_TRUNC|unix.MSG_CTRUNC) != 0 || oobn > 0 {
					batch = append(batch, func() { p.malformed(w, errors.New("oversized message or unexpected file descriptors")) })
					continue
				}
				m, err := activation.Parse(buf[:n])
				var r activation.Report
				if err == nil {
					r, err = activation.ParseReport(m)
				}
				if err != nil {
					batch = append(batch, func() { p.malformed(w, err) })
					continue
				}
				batch = append(batch, func() { p.report(w, r) })
			}
			return true
		})
		if err != nil { // closed by the broker
			batch, ended = append(batch, func() { p.channelClosed(w) }), true
		}
		p.post(func() {
			for _, f := range batch {
				f()
			}
		})
		if ended {
			return
		}
	}
}

// maxBatch bounds the connections accepted, or the reports read, in one go.
const maxBatch = 32

// closeRights closes every fd in a control message buffer.
func closeRights(oob []byte) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return
	}
	for _, m := range msgs {
		if fds, err := unix.ParseUnixRights(&m); err == nil {
			for _, fd := range fds {
				unix.Close(fd)
			}
		}
	}
}

// report applies a worker's report in the protocol's order.
func (p *pool) report(w *worker, r activation.Report) {
	if r.Ready {
		switch {
		case w.wasReady:
			p.malformed(w, errors.New("READY=1 sent twice"))
			return
		case w.state == wDraining:
			// Stopped while starting: it said READY before it read the
			// end of its channel. Nothing is sent to it any more.
			w.wasReady = true
		default:
			p.becameReady(w, r.Slots)
		}
	}
	if r.Done {
		if !w.release(r.ID) {
			p.malformed(w, fmt.Errorf("DONE=1 for a connection it does not hold (ID=%d)", r.ID))
			return
		}
		p.finished(w)
	}
	if r.HasStatus {
		w.status = r.Status
	}
	if r.Watchdog {
		w.lastPing = time.Now()
	}
	if r.Stopping && w.state != wDraining {
		p.log.Info("worker is stopping on its own", "event", EventWorkerStopping, "pid", w.pid, "worker", w.seq)
		w.state, w.expected = wDraining, true
		w.killAt = time.Now().Add(p.site.Timeouts.Stop)
	}
}

// release forgets the connection a DONE names; without an ID, any one.
func (w *worker) release(id uint64) bool {
	if id == 0 {
		for id = range w.ids {
			break
		}
	}
	if _, ok := w.ids[id]; !ok {
		return false
	}
	delete(w.ids, id)
	return true
}

// malformed stops a worker that broke the protocol.
func (p *pool) malformed(w *worker, err error) {
	if w.state == wDraining && w.proc == nil {
		return
	}
	p.setErr(fmt.Sprintf("worker %d broke the protocol: %v", w.pid, err))
	p.log.Error("worker broke the protocol; stopping it", "event", EventProtocolError, "pid", w.pid, "worker", w.seq, "err", err)
	if w.state == wStarting {
		p.backoff(time.Now())
	}
	p.stopWorker(w, "protocol error")
	w.expected = false
}

// channelClosed handles the worker's end of the channel going away: it
// takes no more connections.
func (p *pool) channelClosed(w *worker) {
	// A worker that never became ready is about to exit: leave it counted
	// as starting so that its exit, not this, decides what comes next.
	if w.state == wReady {
		w.state = wDraining
		w.killAt = time.Now().Add(p.site.Timeouts.Stop)
	}
}

// pollable returns a non-blocking duplicate of a listening socket that the
// runtime's poller watches, for accept4 through its RawConn (a
// net.Listener's RawConn cannot Read). Closing it stops a pending accept.
func pollable(f *os.File) (*os.File, error) {
	fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("dup", err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("setnonblock", err)
	}
	return os.NewFile(uintptr(fd), f.Name()), nil
}

// acceptLoop accepts connections on l until l is closed: with accept4 on
// the raw socket, as blocking fds the broker never reads, so nothing but
// the fd passes through the broker.
func (p *pool) acceptLoop(l *os.File, name string) {
	rc, err := l.SyscallConn()
	if err != nil {
		return
	}
	for {
		// Every connection waiting in the kernel queue, in one go.
		var batch []*pending
		var aerr error
		err = rc.Read(func(s uintptr) bool {
			for len(batch) < maxBatch {
				fd, sa, err := unix.Accept4(int(s), unix.SOCK_CLOEXEC)
				if err == unix.EINTR {
					continue
				}
				if err != nil {
					if err != unix.EAGAIN {
						aerr = err
					}
					return err != unix.EAGAIN || len(batch) > 0
				}
				batch = append(batch, &pending{fd: fd, listener: name, peer: sockaddrString(sa), at: time.Now()})
			}
			return true
		})
		if err != nil {
			for _, c := range batch {
				unix.Close(c.fd)
			}
			return // closed
		}
		if len(batch) > 0 && !p.hand(batch) {
			return
		}
		if aerr != nil {
			p.acceptError(name, aerr)
		}
	}
}

// hand gives accepted connections to the pool; false when it has stopped
// (they are closed then).
func (p *pool) hand(cs []*pending) bool {
	select {
	case p.conns <- cs:
		return true
	case <-p.done:
		for _, c := range cs {
			unix.Close(c.fd)
		}
		return false
	}
}

// acceptError logs a failed accept and, when out of fds, pauses briefly so
// the loop does not spin.
func (p *pool) acceptError(name string, err error) {
	if errors.Is(err, unix.ECONNABORTED) {
		return
	}
	p.acceptFailed(name, err)
	if errors.Is(err, unix.EMFILE) || errors.Is(err, unix.ENFILE) || errors.Is(err, unix.ENOBUFS) || errors.Is(err, unix.ENOMEM) {
		t := time.NewTimer(100 * time.Millisecond)
		defer t.Stop()
		select {
		case <-t.C:
		case <-p.done:
		}
	}
}

// acceptFailed logs a failed accept.
func (p *pool) acceptFailed(name string, err error) {
	p.log.Error("accept failed", "event", EventAcceptFailed, "listener", name, "err", err)
}

func sockaddrString(sa unix.Sockaddr) string {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port)).String()
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), uint16(sa.Port)).String()
	case *unix.SockaddrUnix:
		return sa.Name
	}
	return ""
}

// Refuse answers a connection the site cannot serve and closes it: an http
// site's client gets "503 Service Unavailable" with the reason (and what
// it sent is read, so that the close does not reset the connection before
// the client has read the answer); any other site's is closed. It may
// block for up to 2s: call it on its own goroutine.
func Refuse(c net.Conn, site *config.Site, reason string) {
	defer c.Close()
	if site.Protocol != config.HTTP {
		return
	}
	body := fmt.Sprintf("zsm: site %q is unavailable: %s\n", site.Name, reason)
	c.SetDeadline(time.Now().Add(2 * time.Second))
	fmt.Fprintf(c, "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\nConnection: close\r\nRetry-After: 1\r\n\r\n%s", len(body), body)
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	io.Copy(io.Discard, io.LimitReader(c, 1<<20))
}
