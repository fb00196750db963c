package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/zsm-dev/zsm/activation"
	"github.com/zsm-dev/zsm/internal/event"
)

// report applies a worker's report in the protocol's order (PROTOCOL.md,
// section 4), whichever way it came: its channel, or NOTIFY_SOCKET.
func (p *pool) report(w *worker, r activation.Report) {
	if w.ch != nil {
		w.ch.reported = true
	}
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
	p.requestsReported(w, r)
	if r.Watchdog {
		w.lastPing = time.Now()
	}
	if r.Stopping {
		p.drain(w, causeOwn, "")
	}
}

// release forgets the connection a DONE names; without an ID, any one.
func (w *worker) release(id uint64) bool {
	if w.ch == nil {
		return false
	}
	if id == 0 {
		for id = range w.ch.ids {
			break
		}
	}
	if _, ok := w.ch.ids[id]; !ok {
		return false
	}
	delete(w.ch.ids, id)
	return true
}

// malformed stops a worker that broke the protocol; nothing a worker sends
// can crash the broker.
func (p *pool) malformed(w *worker, err error) {
	msg := fmt.Sprintf("worker %d broke the protocol: %v", w.pid, err)
	e := w.about(event.ProtocolError, slog.LevelError, "worker broke the protocol; stopping it")
	e.Err = err.Error()
	p.emit(e)
	p.drain(w, causeFault, msg)
}

// readChannel applies the reports waiting on w's channel, up to a batch
// (the relay says when more are left).
func (h *handoff) readChannel(p *pool, w *worker) { h.readReports(p, w, maxBatch) }

// readReports applies up to n of the reports waiting on w's channel, in
// order; n < 0 reads them all. A malformed report stops the worker. When
// the channel ends, the relay stops watching it.
func (h *handoff) readReports(p *pool, w *worker, n int) {
	// A DONE dispatches, which may read the reports of a worker nearly
	// full: not those of w while this reads them, which would apply its
	// later reports before the rest of this one.
	if w.ch.ended || w.ch.reading {
		return
	}
	w.ch.reading = true
	defer func() { w.ch.reading = false }()
	fd := int(w.ch.f.Fd())
	for ; n != 0; n-- {
		m, oobn, flags, _, err := unix.Recvmsg(fd, h.reportBuf, h.oobBuf, unix.MSG_DONTWAIT|unix.MSG_CMSG_CLOEXEC)
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			return
		}
		if oobn > 0 {
			closeRights(h.oobBuf[:oobn]) // workers send no fds
		}
		if err != nil || m == 0 {
			h.endChannel(p, w)
			if err == nil || err == unix.ECONNRESET {
				// It takes no more connections. A worker that never
				// became ready is failing to start: unless its exit,
				// which says more, comes first, the next tick says so
				// (checkTaking).
				if w.state == wReady {
					p.drain(w, causeGone, "its channel ended")
				} else {
					w.ch.closedAt = time.Now()
				}
			} else {
				p.malformed(w, os.NewSyscallError("recvmsg", err))
			}
			return
		}
		if flags&(unix.MSG_TRUNC|unix.MSG_CTRUNC) != 0 || oobn > 0 {
			p.malformed(w, errors.New("oversized message or unexpected file descriptors"))
			continue
		}
		msg, err := activation.Parse(h.reportBuf[:m])
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

// maxBatch bounds the connections accepted, or the reports read, in one go.
const maxBatch = 32

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
func (h *handoff) pace(p *pool, tick bool) {
	for _, w := range p.workers {
		if w.ch == nil || w.ch.ended {
			continue
		}
		loud := w.state != wReady || w.full || w.slots < minQuietSlots || len(p.queue) > 0
		switch {
		case loud && w.ch.quiet:
			w.ch.quiet = false
			p.relay.hear(w.ch.end, true)
			h.readChannel(p, w) // what came while it was quiet
		case !loud && !w.ch.quiet && tick:
			w.ch.quiet = true
			p.relay.hear(w.ch.end, false)
		}
	}
}

// readQuiet reads every quiet channel; at every tick.
func (h *handoff) readQuiet(p *pool) {
	for _, w := range p.workers {
		if w.ch != nil && w.ch.quiet {
			h.readReports(p, w, -1)
		}
	}
}
