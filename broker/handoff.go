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
// Both are blocking sockets outside the runtime's poller: the broker sends
// and reads with MSG_DONTWAIT, and waits for reports in its relay.
func channel() (*os.File, *os.File, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, os.NewSyscallError("socketpair", err)
	}
	return os.NewFile(uintptr(fds[0]), "channel"), os.NewFile(uintptr(fds[1]), "worker channel"), nil
}

// sendConn sends one connection to a worker in a single non-blocking
// attempt: EAGAIN means the worker's channel is full. The caller still owns
// fd afterwards and closes it once the send succeeded.
func sendConn(ch *os.File, h activation.Handoff, fd int) error {
	b, err := h.Message().Format()
	if err != nil {
		return err
	}
	return unix.Sendmsg(int(ch.Fd()), b, unix.UnixRights(fd), nil, unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL)
}

// readChannel applies the reports waiting on w's channel, in order, up to
// a batch (the relay says when more are left); drain reads them all. A
// malformed report stops the worker; nothing a worker sends can crash the
// broker. When the channel ends, the relay stops watching it.
func (p *pool) readChannel(w *worker) { p.readReports(w, maxBatch) }

func (p *pool) drainChannel(w *worker) { p.readReports(w, -1) }

func (p *pool) readReports(w *worker, n int) {
	// A DONE dispatches, which may read the reports of a worker nearly
	// full: not those of w while this reads them, which would apply its
	// later reports before the rest of this one.
	if w.ch == nil || w.chEnded || w.reading {
		return
	}
	w.reading = true
	defer func() { w.reading = false }()
	fd := int(w.ch.Fd())
	for ; n != 0; n-- {
		m, oobn, flags, _, err := unix.Recvmsg(fd, p.reportBuf, p.oobBuf, unix.MSG_DONTWAIT|unix.MSG_CMSG_CLOEXEC)
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			return
		}
		if oobn > 0 {
			closeRights(p.oobBuf[:oobn]) // workers send no fds
		}
		if err != nil || m == 0 {
			p.endChannel(w)
			if err == nil || err == unix.ECONNRESET {
				p.channelClosed(w)
			} else {
				p.malformed(w, os.NewSyscallError("recvmsg", err))
			}
			return
		}
		if flags&(unix.MSG_TRUNC|unix.MSG_CTRUNC) != 0 || oobn > 0 {
			p.malformed(w, errors.New("oversized message or unexpected file descriptors"))
			continue
		}
		msg, err := activation.Parse(p.reportBuf[:m])
		var r activation.Report
		if err == nil {
			r, err = activation.ParseReport(msg)
		}
		if err != nil {
			p.malformed(w, err)
			continue
		}
		p.report(w, r)
	}
}

// Reading a worker's reports as they come costs a wakeup of the broker per
// connection (the worker's DONE), and the worker's send the cost of waking
// it. While a worker is ready, has slots to spare and nothing waits in the
// queue, the broker does not need its DONEs at once: they only lower a
// count that is far from the limit. Such a worker's channel is quiet: the
// relay does not wake for it, and its reports are read when the count
// nears the worker's slots (before a dispatch), at every tick (for
// WATCHDOG, STATUS and STOPPING) and when it exits. A worker that starts,
// drains, fills up, has few slots, or whose connections wait, is read
// as its reports come.

// minQuietSlots is the fewest slots a worker needs for a quiet channel: a
// worker with fewer fills up at once.
const minQuietSlots = 8

// pace makes channels quiet or loud as the pool's state asks; making one
// quiet waits for a tick, so that a queue that comes and goes does not
// toggle it on every connection.
func (p *pool) pace(tick bool) {
	for _, w := range p.workers {
		if w.ch == nil || w.chEnded {
			continue
		}
		loud := w.state != wReady || w.full || w.slots < minQuietSlots || len(p.queue) > 0
		switch {
		case loud && w.quiet:
			w.quiet = false
			p.relay.hear(w.chEnd, true)
			p.readChannel(w) // what came while it was quiet
		case !loud && !w.quiet && tick:
			w.quiet = true
			p.relay.hear(w.chEnd, false)
		}
	}
}

// readQuiet reads every quiet channel; at every tick.
func (p *pool) readQuiet() {
	for _, w := range p.workers {
		if w.quiet {
			p.drainChannel(w)
		}
	}
}

// readFilling reads the quiet channels of workers whose count of held
// connections nears their slots.
func (p *pool) readFilling() {
	if p.site.Mode != config.Handoff {
		return // only handoff channels go quiet
	}
	for _, w := range p.workers {
		if w.quiet && w.held >= w.slots*3/4 {
			p.drainChannel(w)
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
		p.draining(w)
		// No more connections for it: end its channel, which it reads
		// to the end before it exits (PROTOCOL.md, section 4).
		shutWrite(int(w.ch.Fd()))
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

// acceptFailed logs a failed accept.
func (p *pool) acceptFailed(name string, err error) {
	p.log.Error("accept failed", "event", EventAcceptFailed, "listener", name, "err", err)
}

// sockaddrString is sa as PEER= gives it.
func sockaddrString(sa unix.Sockaddr) string {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port)).String()
	case *unix.SockaddrInet6:
		ip := netip.AddrFrom16(sa.Addr)
		if sa.ZoneId != 0 {
			if ifi, err := net.InterfaceByIndex(int(sa.ZoneId)); err == nil {
				ip = ip.WithZone(ifi.Name)
			}
		}
		return netip.AddrPortFrom(ip, uint16(sa.Port)).String()
	case *unix.SockaddrUnix:
		if !activation.ValidValue(sa.Name) {
			return "" // not a value the protocol can carry
		}
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
	c.SetDeadline(time.Now().Add(2 * time.Second))
	c.Write(refusal(site, reason))
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	io.Copy(io.Discard, io.LimitReader(c, 1<<20))
}

// refuseNow answers an http site's client on its socket fd at once, with
// no goroutine and no other fd: for a broker out of fds, where Refuse
// cannot have its net.Conn. What the client sent and is already here is
// read first, so that closing fd (the caller's part) does not reset the
// connection under the answer.
func refuseNow(fd int, site *config.Site, reason string) {
	if site.Protocol != config.HTTP {
		return
	}
	var buf [4096]byte
	for range 16 {
		if n, _, err := unix.Recvfrom(fd, buf[:], unix.MSG_DONTWAIT); n <= 0 || err != nil {
			break
		}
	}
	unix.SendmsgN(fd, refusal(site, reason), nil, nil, unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL)
	unix.Shutdown(fd, unix.SHUT_WR)
}

// refusal is the 503 an http site's client gets, with the reason.
func refusal(site *config.Site, reason string) []byte {
	body := fmt.Sprintf("zsm: site %q is unavailable: %s\n", site.Name, reason)
	return fmt.Appendf(nil, "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\nConnection: close\r\nRetry-After: 1\r\n\r\n%s", len(body), body)
}
