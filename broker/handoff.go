package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/zsm-dev/zsm/activation"
	"github.com/zsm-dev/zsm/internal/config"
	"github.com/zsm-dev/zsm/internal/event"
	"github.com/zsm-dev/zsm/internal/proc"
)

// handoff is the mode where the broker accepts and passes each connection
// to a worker over its channel (activation/PROTOCOL.md): the worker then
// talks to the client directly.
type handoff struct {
	noBackends
	reportBuf []byte // a report read from a channel
	oobBuf    []byte // and its control message
}

func newHandoff() *handoff {
	return &handoff{
		reportBuf: make([]byte, activation.MaxMessageSize+1),
		oobBuf:    make([]byte, unix.CmsgSpace(4*4)),
	}
}

// channel is a handoff worker's channel, the broker's end.
type channel struct {
	f       *os.File            // blocking, outside the runtime's poller
	end     *end                // its place in the relay
	ended   bool                // it has ended: the relay no longer watches it
	quiet   bool                // the relay does not wake for its reports: they are read when needed
	reading bool                // its reports are being read (see readReports)
	ids     map[uint64]*pending // the connections the worker holds, as they were queued
	ino     uint64              // the inode of the worker's end, to find it in the worker (reclaim)

	// Health (stuck.go): a report read since the last check, and since
	// when the channel has held connections the worker has not taken.
	reported    bool
	unreadSince time.Time
	closedAt    time.Time // the worker closed its end before it was ready
}

func (h *handoff) traits() traits {
	return traits{accepts: true, shrinks: true, seesIdle: true}
}

func (h *handoff) open(p *pool) error {
	// Blocking sockets, which the broker never reads: a worker gets its
	// connection as accept(2) would give it.
	return p.relay.listenAll(p.b.cfg.Sockets, unix.SOCK_CLOEXEC)
}

func (h *handoff) closeListeners(p *pool) { p.relay.closeListeners() }
func (h *handoff) close()                 {}

func (h *handoff) capacity(s *config.Site) int { return s.Pool.Max }

// wantWorker keeps min_idle spares, and grows while connections wait
// beyond what free and coming slots take.
func (h *handoff) wantWorker(p *pool) bool {
	starting := p.starting()
	if p.spares()+starting < p.site.Pool.MinIdle {
		return true
	}
	return len(p.queue) > h.freeSlots(p)+starting*p.slots
}

func (h *handoff) freeSlots(p *pool) int { return p.freeSlots() }

// takes says w has a free slot, and is not suspected of having stopped
// taking connections: a suspect whose channel is empty again is cleared.
func (h *handoff) takes(w *worker) bool {
	if w.suspect {
		if unread(w) != 0 {
			return false
		}
		w.suspect, w.ch.unreadSince = false, time.Time{}
	}
	return w.held < w.slots
}

func (h *handoff) spec(p *pool, w *worker) (proc.Spec, func(bool), error) {
	ch, child, err := socketpair()
	if err != nil {
		return proc.Spec{}, nil, err
	}
	w.ch = &channel{f: ch, ino: inode(child)}
	spec := proc.Spec{
		Argv:  p.site.Command,
		Dir:   p.site.Directory,
		Files: []*os.File{child},
		Env:   p.env(activation.EnvWatchdogUSec, activation.EnvChannelFD+"=3", fmt.Sprintf("%s=%d", activation.EnvProtocol, activation.Version)),
	}
	done := func(started bool) {
		child.Close() // the worker has its own copy
		if !started {
			ch.Close()
		}
	}
	return spec, done, nil
}

// socketpair makes a worker's channel: the broker's end, and the worker's
// end to pass as its fd 3. Both are blocking sockets outside the runtime's
// poller: the broker sends and reads with MSG_DONTWAIT, and waits for
// reports in its relay.
func socketpair() (*os.File, *os.File, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, os.NewSyscallError("socketpair", err)
	}
	return os.NewFile(uintptr(fds[0]), "channel"), os.NewFile(uintptr(fds[1]), "worker channel"), nil
}

func (h *handoff) started(p *pool, w *worker) {
	e, err := p.relay.watch(w)
	if err != nil {
		w.ch.ended = true
		p.emit(event.Event{Kind: event.Notice, Level: slog.LevelError, Message: "cannot watch the worker's channel; stopping it", Pid: w.pid, Err: err.Error()})
		p.stopWorker(w, err.Error())
		return
	}
	w.ch.end = e
}

// hand sends c over w's channel in one non-blocking attempt: a full
// channel marks w full until it reports a DONE; a broken one stops it.
func (h *handoff) hand(p *pool, w *worker, c *pending) error {
	m := activation.Handoff{ID: p.connSeq, Listener: c.listener, Peer: sockaddrString(c.peer)}.Message()
	b, err := m.Format()
	if err == nil {
		err = unix.Sendmsg(int(w.ch.f.Fd()), b, unix.UnixRights(c.fd()), nil, unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL)
	}
	switch {
	case errors.Is(err, syscall.EAGAIN):
		w.full = true
		return err
	case err != nil:
		p.stopWorker(w, "its channel failed: "+err.Error())
		return err
	}
	c.sock.close() // the worker has its own copy
	p.latency.handoff.observe(time.Since(c.at))
	if w.ch.ids == nil {
		w.ch.ids = map[uint64]*pending{}
	}
	w.ch.ids[p.connSeq] = c
	return nil
}

// stop ends w's channel: the end of its work (PROTOCOL.md, section 3). It
// reads the channel to the end, finishes what it holds and exits; the stop signal
// comes only after the stop timeout.
func (h *handoff) stop(p *pool, w *worker, own bool) time.Time {
	if w.ch != nil {
		shutWrite(int(w.ch.f.Fd()))
	}
	return time.Now().Add(p.site.Timeouts.Stop)
}

func (h *handoff) drained(p *pool, w *worker) {}

// exited reads what w sent before it died, then closes its channel.
func (h *handoff) exited(p *pool, w *worker) {
	if w.ch == nil {
		return
	}
	h.readReports(p, w, -1)
	h.endChannel(p, w)
	w.ch.f.Close()
}

func (h *handoff) overdue(w *worker) bool { return true }

func (h *handoff) tick(p *pool, now time.Time) {
	h.readQuiet(p)
	h.checkTaking(p, now)
	h.checkRequests(p, now)
	h.pace(p, true)
}

func (h *handoff) turn(p *pool) { h.pace(p, false) }

// settle reads the quiet channels of workers whose count of held
// connections nears their slots.
func (h *handoff) settle(p *pool) {
	for _, w := range p.workers {
		if w.ch != nil && w.ch.quiet && w.held >= w.slots*3/4 {
			h.readReports(p, w, -1)
		}
	}
}

// endChannel stops reading w's channel, which has ended or is closed.
func (h *handoff) endChannel(p *pool, w *worker) {
	if !w.ch.ended {
		w.ch.ended, w.ch.quiet = true, false
		p.relay.unwatch(w.ch.end)
	}
}
