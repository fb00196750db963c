package broker

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

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

// watchFirst starts the pool on the first connection (listen mode).
func (p *pool) watchFirst() {
	wt := p.watch
	p.wg.Go(func() {
		defer wt.wakeR.Close()
		if wt.wait() {
			p.post(func() {
				if !p.warm && !p.stopping {
					p.warm = true
					p.lastConn = time.Now()
					p.log.Info("first connection: starting the pool", "event", EventFirstConnection)
				}
			})
		}
	})
}

// listenReadiness marks a listen-mode worker that says nothing ready once
// it accepts: when connections that waited in the kernel queue while it
// started are gone.
func (p *pool) listenReadiness() {
	if p.watch == nil {
		return
	}
	waiting := p.watch.pending()
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

// notifySocket is the NOTIFY_SOCKET the broker gives listen and proxy
// workers: apps that already call sd_notify("READY=1") tell the broker,
// never systemd. Datagrams are taken only from the broker's own workers,
// checked by the sender's pid (SO_PASSCRED).
type notifySocket struct {
	conn *net.UnixConn
	addr string // "@name", an abstract socket
}

func newNotifySocket(site string) (*notifySocket, error) {
	var b [8]byte
	rand.Read(b[:])
	name := "@zsm/" + site + "/" + hex.EncodeToString(b[:]) + "/notify"
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		return nil, err
	}
	rc, err := c.SyscallConn()
	if err != nil {
		c.Close()
		return nil, err
	}
	var serr error
	rc.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PASSCRED, 1) })
	if serr != nil {
		c.Close()
		return nil, serr
	}
	return &notifySocket{conn: c, addr: name}, nil
}

func (n *notifySocket) Close() { n.conn.Close() }

// notifyLoop reads sd_notify datagrams from workers.
func (p *pool) notifyLoop(n *notifySocket) {
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(unix.SizeofUcred)+unix.CmsgSpace(4*4))
	for {
		nb, oobn, _, _, err := n.conn.ReadMsgUnix(buf, oob)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		pid := senderPid(oob[:oobn])
		msg := string(buf[:nb])
		p.post(func() { p.notified(pid, msg) })
	}
}

// senderPid returns the pid in a datagram's credentials, closing any fds
// sent with it; 0 when there are none.
func senderPid(oob []byte) int {
	closeRights(oob)
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return 0
	}
	for _, m := range msgs {
		if cred, err := unix.ParseUnixCredentials(&m); err == nil {
			return int(cred.Pid)
		}
	}
	return 0
}

// notified applies an sd_notify message from a worker's pid.
func (p *pool) notified(pid int, msg string) {
	var w *worker
	for _, x := range p.workers {
		if x.pid == pid {
			w = x
		}
	}
	if w == nil {
		p.log.Info("ignoring sd_notify from a process that is not a worker of this site", "event", EventNotice, "pid", pid)
		return
	}
	w.notified = true
	for line := range strings.SplitSeq(msg, "\n") {
		switch {
		case line == "READY=1":
			p.becameReady(w, 1)
		case line == "STOPPING=1" && w.state != wDraining:
			w.state, w.expected = wDraining, true
			w.killAt = time.Now().Add(p.site.Timeouts.Stop)
		case line == "WATCHDOG=1":
			w.lastPing = time.Now()
		case strings.HasPrefix(line, "STATUS="):
			w.status = strings.TrimPrefix(line, "STATUS=")
		}
	}
}
