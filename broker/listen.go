package broker

import (
	"fmt"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/zsm-dev/zsm/internal/config"
	"github.com/zsm-dev/zsm/internal/event"
	"github.com/zsm-dev/zsm/internal/proc"
)

// listen is the mode where every worker gets the listening sockets with
// LISTEN_FDS, as under plain systemd socket activation, and accepts from
// the kernel queue itself: the broker never sees a connection.
type listen struct {
	noChannels
	noBackends
	watch  *watcher      // waits for the first connection
	notify *notifySocket // the workers' NOTIFY_SOCKET
}

func (l *listen) traits() traits { return traits{} }

func (l *listen) open(p *pool) error {
	w, err := newWatcher(p.b.cfg.Sockets)
	if err != nil {
		return err
	}
	l.watch = w
	if !p.warm {
		l.watchFirst(p)
	}
	l.notify, err = openNotify(p)
	return err
}

func (l *listen) closeListeners(p *pool) {
	if l.watch != nil {
		l.watch.Close()
		l.watch = nil
	}
}

func (l *listen) close() { l.notify.Close() }

func (l *listen) capacity(s *config.Site) int { return s.Pool.Max }

// wantWorker runs the full set: every worker accepts from the kernel
// queue.
func (l *listen) wantWorker(p *pool) bool { return true }

// freeSlots is 0: the broker queues nothing for listen workers.
func (l *listen) freeSlots(p *pool) int { return 0 }

func (l *listen) takes(w *worker) bool { return false }

func (l *listen) hand(p *pool, w *worker, c *pending) error {
	return fmt.Errorf("broker: listen workers accept their own connections")
}

func (l *listen) spec(p *pool, w *worker) (proc.Spec, func(bool), error) {
	spec := proc.Spec{Argv: p.site.Command, Dir: p.site.Directory, SetListenPID: true}
	names := make([]string, len(p.b.cfg.Sockets))
	for i, s := range p.b.cfg.Sockets {
		spec.Files = append(spec.Files, s.File)
		names[i] = p.site.Name
	}
	spec.Env = p.env("WATCHDOG_USEC",
		fmt.Sprintf("LISTEN_FDS=%d", len(spec.Files)),
		"LISTEN_FDNAMES="+strings.Join(names, ":"),
		"NOTIFY_SOCKET="+l.notify.addr)
	return spec, nil, nil
}

func (l *listen) started(p *pool, w *worker) {}
func (l *listen) settle(p *pool)             {}
func (l *listen) turn(p *pool)               {}
func (l *listen) drained(p *pool, w *worker) {}
func (l *listen) exited(p *pool, w *worker)  {}

// stop sends the stop signal, unless the worker stops on its own already:
// then the signal comes after the stop timeout.
func (l *listen) stop(p *pool, w *worker, own bool) time.Time {
	if own {
		return time.Now().Add(p.site.Timeouts.Stop)
	}
	p.signalStop(w)
	return time.Time{}
}

// overdue: an app that never notifies shows it is ready only by
// accepting, so it is late only if connections wait for it.
func (l *listen) overdue(w *worker) bool { return w.notified || w.sawQueue }

// tick marks a worker that says nothing ready once it accepts: when
// connections that waited in the kernel queue while it started are gone.
func (l *listen) tick(p *pool, now time.Time) {
	if l.watch == nil {
		return
	}
	waiting := l.watch.pending()
	for _, w := range p.workers {
		if w.state != wStarting || w.notified {
			continue
		}
		if waiting {
			w.sawQueue = true
		} else if w.sawQueue {
			p.becameReady(w, 1)
		}
	}
}

// watchFirst starts the pool on the first connection.
func (l *listen) watchFirst(p *pool) {
	wt := l.watch
	p.wg.Go(func() {
		defer wt.wakeR.Close()
		if wt.wait() {
			p.post(func() {
				if !p.warm && !p.stopping {
					p.warm = true
					p.lastConn = time.Now()
					p.emit(event.Event{Kind: event.FirstConnection, Message: "first connection: starting the pool"})
				}
			})
		}
	})
}

// watcher waits for a connection on the listening sockets without
// accepting it: in listen mode the workers accept, so the first connection
// waits in the kernel queue while they start. It polls the raw fds (an
// *os.File or net.Listener would flip O_NONBLOCK on the socket every
// worker shares) together with a pipe that Close writes to.
type watcher struct {
	fds   []int
	wakeR *os.File
	wakeW *os.File
}

func newWatcher(socks []Socket) (*watcher, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	wt := &watcher{wakeR: r, wakeW: w}
	for _, s := range socks {
		wt.fds = append(wt.fds, int(s.File.Fd()))
	}
	return wt, nil
}

// wait returns true when a listening socket has a connection waiting, false
// once Close was called.
func (wt *watcher) wait() bool {
	pfds := []unix.PollFd{{Fd: int32(wt.wakeR.Fd()), Events: unix.POLLIN}}
	for _, fd := range wt.fds {
		pfds = append(pfds, unix.PollFd{Fd: int32(fd), Events: unix.POLLIN})
	}
	for {
		_, err := unix.Poll(pfds, -1)
		if err != nil && err != unix.EINTR {
			return false
		}
		if pfds[0].Revents != 0 {
			return false
		}
		for _, pf := range pfds[1:] {
			if pf.Revents&unix.POLLIN != 0 {
				return true
			}
		}
	}
}

// pending reports whether any listening socket has a connection waiting now.
func (wt *watcher) pending() bool {
	var pfds []unix.PollFd
	for _, fd := range wt.fds {
		pfds = append(pfds, unix.PollFd{Fd: int32(fd), Events: unix.POLLIN})
	}
	n, err := unix.Poll(pfds, 0)
	return err == nil && n > 0
}

// Close wakes wait and releases the pipe. Call it once.
func (wt *watcher) Close() {
	wt.wakeW.Write([]byte{0})
	wt.wakeW.Close()
}
