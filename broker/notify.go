package broker

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"time"

	"golang.org/x/sys/unix"

	"github.com/zsm-dev/zsm/activation"
	"github.com/zsm-dev/zsm/internal/event"
)

// notifySocket is the NOTIFY_SOCKET the broker gives listen and proxy
// workers: apps that already call sd_notify("READY=1") tell the broker,
// never systemd. Datagrams are taken only from the broker's own workers,
// checked by the sender's pid (SO_PASSCRED).
type notifySocket struct {
	conn *net.UnixConn
	addr string // "@name", an abstract socket
}

// openNotify opens the site's notify socket and reads it until it is
// closed.
func openNotify(p *pool) (*notifySocket, error) {
	var b [8]byte
	rand.Read(b[:])
	name := "@zsm/" + p.site.Name + "/" + hex.EncodeToString(b[:]) + "/notify"
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
	n := &notifySocket{conn: c, addr: name}
	p.wg.Go(func() { n.read(p) })
	return n, nil
}

// Close stops the reading; a nil notifySocket does nothing.
func (n *notifySocket) Close() {
	if n != nil {
		n.conn.Close()
	}
}

// read reads sd_notify datagrams from workers until Close.
func (n *notifySocket) read(p *pool) {
	buf := make([]byte, activation.MaxMessageSize+1)
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
		r, err := parseNotify(buf[:nb])
		p.post(func() { p.notified(pid, r, err) })
	}
}

// parseNotify reads an sd_notify(3) datagram with the worker protocol's
// parser, which reads the same format; keys the broker does not use are
// ignored.
func parseNotify(b []byte) (activation.Report, error) {
	m, err := activation.Parse(b)
	if err != nil {
		return activation.Report{}, err
	}
	return activation.ParseReport(m)
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

// notified applies an sd_notify message from a worker's pid. Apps that
// speak sd_notify are not held to the worker protocol: a READY=1 after
// the first, or a datagram the parser refuses, is ignored, and DONE has
// no meaning here.
func (p *pool) notified(pid int, r activation.Report, err error) {
	var w *worker
	for _, x := range p.workers {
		if x.pid == pid {
			w = x
		}
	}
	if w == nil {
		p.ignored(event.Event{Message: "ignoring sd_notify from a process that is not a worker of this site", Pid: pid})
		return
	}
	w.notified = true
	if err != nil {
		p.ignored(event.Event{Message: "ignoring an sd_notify datagram the broker cannot read", Pid: pid, Err: err.Error()})
		return
	}
	r.Ready = r.Ready && !w.wasReady && !p.traits.readyByPort
	r.Slots = 1
	r.Done = false
	p.report(w, r)
}

// ignoredEvery bounds how often ignored datagrams are logged: a process
// that floods the notify socket costs one line in that time, with a count.
const ignoredEvery = 10 * time.Second

// ignored logs a datagram the broker ignores, or counts it when one was
// logged less than ignoredEvery ago.
func (p *pool) ignored(e event.Event) {
	now := time.Now()
	if now.Sub(p.ignoredAt) < ignoredEvery {
		p.ignoredSince++
		return
	}
	e.Kind = event.Notice
	if p.ignoredSince > 0 {
		e.Attrs = attrs("ignored_since", p.ignoredSince)
	}
	p.ignoredAt, p.ignoredSince = now, 0
	p.emit(e)
}
