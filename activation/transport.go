package activation

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// recvFDs is how many descriptors ReadMessage makes room for: one is
// allowed, the rest are there so that extra ones are seen (and closed)
// rather than silently dropped by the kernel.
const recvFDs = 8

// readBuffers are ReadMessage's: a worker reads a message per connection,
// and Parse copies what it keeps.
type readBuffers struct{ buf, oob []byte }

var readPool = sync.Pool{New: func() any {
	return &readBuffers{make([]byte, MaxMessageSize+1), make([]byte, unix.CmsgSpace(recvFDs*4))}
}}

// ReadMessage reads one datagram from c, the broker's or the worker's end of
// a channel (a SOCK_SEQPACKET unix socket), with MSG_CMSG_CLOEXEC.
//
// It returns io.EOF (possibly wrapped) when the peer ended the channel.
// A datagram that is empty, longer than [MaxMessageSize], cut short
// (MSG_TRUNC, MSG_CTRUNC), malformed ([Parse]) or carrying more than one
// descriptor fails with an error wrapping [ErrProtocol]; reading may go on.
//
// Descriptors: on success, f is the descriptor that came with the datagram,
// or nil if none did; the caller owns f and must close it. On error f is nil
// and ReadMessage has closed every descriptor it received.
func ReadMessage(c *net.UnixConn) (m Message, f *os.File, err error) {
	bufs := readPool.Get().(*readBuffers)
	defer readPool.Put(bufs)
	buf, oob := bufs.buf, bufs.oob
	n, oobn, flags, _, err := c.ReadMsgUnix(buf, oob)
	fds, cerr := rights(oob[:oobn])
	closeAll := func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}
	switch {
	case err != nil && oobn > 0 && errors.Is(err, io.EOF):
		closeAll()
		return nil, nil, protocolError("empty datagram with %d descriptors", len(fds))
	case err != nil:
		closeAll()
		return nil, nil, fmt.Errorf("read message: %w", err)
	case n == 0 && oobn == 0:
		// Not reported as io.EOF by every kernel path: treat it the same.
		return nil, nil, fmt.Errorf("read message: %w", io.EOF)
	case cerr != nil:
		closeAll()
		return nil, nil, cerr
	case flags&unix.MSG_CTRUNC != 0:
		closeAll()
		return nil, nil, protocolError("ancillary data truncated (MSG_CTRUNC)")
	case flags&unix.MSG_TRUNC != 0 || n > MaxMessageSize:
		closeAll()
		return nil, nil, protocolError("datagram exceeds %d bytes", MaxMessageSize)
	case len(fds) > 1:
		closeAll()
		return nil, nil, protocolError("%d descriptors on one datagram, want at most 1", len(fds))
	}
	m, err = Parse(buf[:n])
	if err != nil {
		closeAll()
		return nil, nil, err
	}
	if len(fds) == 1 {
		f = os.NewFile(uintptr(fds[0]), "zsm-conn")
	}
	return m, f, nil
}

// rights returns the descriptors in SCM_RIGHTS control messages. Other
// control messages are ignored.
func rights(oob []byte) ([]int, error) {
	if len(oob) == 0 {
		return nil, nil
	}
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, protocolError("bad control message: %v", err)
	}
	var fds []int
	for _, cm := range msgs {
		if cm.Header.Level != unix.SOL_SOCKET || cm.Header.Type != unix.SCM_RIGHTS {
			continue
		}
		got, err := unix.ParseUnixRights(&cm)
		if err != nil {
			return fds, protocolError("bad SCM_RIGHTS message: %v", err)
		}
		fds = append(fds, got...)
	}
	return fds, nil
}

// WriteMessage sends m as one datagram on c. If conn is not nil, its
// descriptor goes with the datagram in SCM_RIGHTS (the broker's CONN
// message); conn may be a *net.TCPConn, *net.UnixConn or *os.File.
//
// Descriptors: WriteMessage does not close conn. Once it returns nil the
// receiving process holds its own reference, and the caller closes its copy
// when it no longer needs it (the broker closes it at once). On error the
// peer did not get the descriptor.
func WriteMessage(c *net.UnixConn, m Message, conn syscall.Conn) error {
	b, err := m.Format()
	if err != nil {
		return fmt.Errorf("write message: %w", err)
	}
	var n int
	if conn == nil {
		n, _, err = c.WriteMsgUnix(b, nil, nil)
	} else {
		rc, rerr := conn.SyscallConn()
		if rerr != nil {
			return fmt.Errorf("write message: %w", rerr)
		}
		cerr := rc.Control(func(fd uintptr) {
			n, _, err = c.WriteMsgUnix(b, unix.UnixRights(int(fd)), nil)
		})
		if cerr != nil {
			return fmt.Errorf("write message: descriptor: %w", cerr)
		}
	}
	if err != nil {
		return fmt.Errorf("write message: %w", err)
	}
	if n != len(b) {
		return fmt.Errorf("write message: short write: %d of %d bytes", n, len(b))
	}
	return nil
}
