package broker

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/zsm-dev/zsm/activation"
	"github.com/zsm-dev/zsm/internal/event"
)

// A handoff worker that stops taking the connections it is handed (it is
// stopped, deadlocked, or swapped out) would keep them, and its free slots
// would draw more. At every tick the broker looks at what each worker has
// not yet read from its channel (SIOCOUTQ on the broker's end): a worker
// that leaves connections unread, and reports nothing, for the handoff
// timeout (timeouts.handoff) is stuck. The broker then takes its unread connections
// back out of its channel (pidfd_getfd(2) lends it the worker's end) and
// hands them to other workers, so that a stuck worker takes with it only
// the connections it had read before it stopped; it ends the worker's
// channel, starts a replacement, and sends the worker its stop signal once a
// replacement is ready (or after the start timeout), then SIGKILL. A
// worker suspected of being stuck (connections unread at one tick) gets
// no more connections while its channel is not empty.

// closedGrace is how long a worker that closed its channel before READY
// has to exit on its own: a crashing worker's end closes a moment before
// its exit is reaped, and its exit status says more than the closed channel.
const closedGrace = 250 * time.Millisecond

// checkTaking looks for workers that stopped taking connections.
func (h *handoff) checkTaking(p *pool, now time.Time) {
	for _, w := range p.workers {
		if w.ch != nil && !w.ch.closedAt.IsZero() && w.state == wStarting && now.Sub(w.ch.closedAt) >= closedGrace {
			p.drain(w, causeFault, fmt.Sprintf("%s closed its channel before it was ready", p.site.Command[0]))
			w.terminateAt(now, now, 0)
			continue
		}
		if w.ch == nil || w.ch.ended || w.state != wReady {
			continue
		}
		reported := w.ch.reported
		w.ch.reported = false
		switch n := unread(w); {
		case n == 0 || reported:
			w.ch.unreadSince, w.suspect = time.Time{}, false
		case w.ch.unreadSince.IsZero():
			w.ch.unreadSince, w.suspect = now, true
		case now.Sub(w.ch.unreadSince) >= p.site.Timeouts.Handoff:
			h.stuck(p, w, now.Sub(w.ch.unreadSince))
		}
	}
}

// unread returns how much w has not read of what was sent on its channel
// (SIOCOUTQ: the memory the kernel still holds for it); 0 when unknown.
func unread(w *worker) int {
	n, err := unix.IoctlGetInt(int(w.ch.f.Fd()), unix.SIOCOUTQ)
	if err != nil {
		return 0
	}
	return n
}

// stuck takes w out of dispatch, gives its unread connections to others,
// and replaces it.
func (h *handoff) stuck(p *pool, w *worker, unread time.Duration) {
	back, err := h.reclaim(p, w)
	e := w.about(event.WorkerStuck, slog.LevelError, "worker stopped taking connections; replacing it")
	e.Attrs = attrs("unread_for", unread.Round(time.Millisecond), "reclaimed", len(back), "held", w.held)
	if err != nil {
		e.Err = "cannot take its unread connections back: " + err.Error()
	}
	p.emit(e)
	p.drain(w, causeStuck, fmt.Sprintf("worker %d stopped taking connections (none read for %s)", w.pid, unread.Round(time.Millisecond)))
	// What it never read goes first, in the order it came.
	p.queue = append(back, p.queue...)
	p.dispatch()
}

// reclaim takes the connections still unread in w's channel back out of
// it, by reading them from the worker's own end, and returns them to be
// queued again.
func (h *handoff) reclaim(p *pool, w *worker) ([]*pending, error) {
	end, err := workerEnd(w.pid, w.ch.ino)
	if err != nil {
		return nil, err
	}
	defer unix.Close(end)
	buf := make([]byte, activation.MaxMessageSize+1)
	oob := make([]byte, unix.CmsgSpace(4))
	var back []*pending
	for {
		n, oobn, flags, _, err := unix.Recvmsg(end, buf, oob, unix.MSG_DONTWAIT|unix.MSG_CMSG_CLOEXEC)
		if err != nil || n == 0 {
			return back, nil // EAGAIN: nothing more
		}
		fd := rightsFD(oob[:oobn])
		m, perr := activation.Parse(buf[:n])
		hd, herr := activation.ParseHandoff(m)
		c := w.ch.ids[hd.ID]
		if fd < 0 || flags&(unix.MSG_TRUNC|unix.MSG_CTRUNC) != 0 || perr != nil || herr != nil || c == nil {
			if fd >= 0 {
				unix.Close(fd) // not one of ours: nothing to serve
			}
			continue
		}
		delete(w.ch.ids, hd.ID)
		w.held--
		c.sock = own(fd)
		back = append(back, c)
	}
}

// workerEnd duplicates the worker's end of a channel (inode ino) out of
// process pid: the descriptor it was given, or wherever it moved it.
func workerEnd(pid int, ino uint64) (int, error) {
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return -1, os.NewSyscallError("pidfd_open", err)
	}
	defer unix.Close(pidfd)
	fds, err := os.ReadDir(filepath.Join("/proc", strconv.Itoa(pid), "fd"))
	if err != nil {
		return -1, err
	}
	want := "socket:[" + strconv.FormatUint(ino, 10) + "]"
	for _, d := range fds {
		link, err := os.Readlink(filepath.Join("/proc", strconv.Itoa(pid), "fd", d.Name()))
		if err != nil || link != want {
			continue
		}
		target, _ := strconv.Atoi(d.Name())
		fd, err := unix.PidfdGetfd(pidfd, target, 0)
		if err != nil {
			return -1, os.NewSyscallError("pidfd_getfd", err)
		}
		// The process may have closed and reused the number since.
		if inodeFD(fd) == ino {
			return fd, nil
		}
		unix.Close(fd)
	}
	return -1, fmt.Errorf("the worker no longer holds its channel")
}

// inode returns f's inode number; 0 when unknown.
func inode(f *os.File) uint64 { return inodeFD(int(f.Fd())) }

func inodeFD(fd int) uint64 {
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil {
		return 0
	}
	return st.Ino
}

// rightsFD returns the one descriptor a control message carries, closing
// any others; -1 when there is none.
func rightsFD(oob []byte) int {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return -1
	}
	fd := -1
	for _, m := range msgs {
		fds, err := unix.ParseUnixRights(&m)
		if err != nil {
			continue
		}
		for _, x := range fds {
			if fd < 0 {
				fd = x
			} else {
				unix.Close(x)
			}
		}
	}
	return fd
}
