package sockets

import (
	"encoding/binary"
	"errors"
	"net"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestAcceptQueue: the accept queue of a TCP and of a unix listening socket
// counts the connections not accepted yet, and the backlog is listen(2)'s.
func TestAcceptQueue(t *testing.T) {
	for _, tc := range []struct {
		name   string
		domain int
		sa     unix.Sockaddr
		dial   func(fd int) (network, addr string)
	}{
		{"tcp", unix.AF_INET, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}, func(fd int) (string, string) {
			sa, _ := unix.Getsockname(fd)
			return "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(sa.(*unix.SockaddrInet4).Port))
		}},
		{"unix", unix.AF_UNIX, &unix.SockaddrUnix{Name: filepath.Join(t.TempDir(), "q.sock")}, func(fd int) (string, string) {
			sa, _ := unix.Getsockname(fd)
			return "unix", sa.(*unix.SockaddrUnix).Name
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fd, err := unix.Socket(tc.domain, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(fd)
			if err := unix.Bind(fd, tc.sa); err != nil {
				t.Fatal(err)
			}
			if err := unix.Listen(fd, 7); err != nil {
				t.Fatal(err)
			}
			if q, b, err := AcceptQueue(fd); err != nil || q != 0 || b != 7 {
				t.Fatalf("empty: queue %d, backlog %d, %v; want 0, 7", q, b, err)
			}
			network, addr := tc.dial(fd)
			for range 2 {
				c, err := net.Dial(network, addr)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
			}
			var q, b uint32
			for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
				if q, b, err = AcceptQueue(fd); err != nil || q == 2 {
					break
				}
				runtime.Gosched()
			}
			if err != nil || q != 2 || b != 7 {
				t.Errorf("two waiting: queue %d, backlog %d, %v; want 2, 7", q, b, err)
			}
		})
	}
}

// TestAcceptQueueNotListening: a socket that does not listen is an error,
// not a queue of 0.
func TestAcceptQueueNotListening(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	if q, b, err := AcceptQueue(fds[0]); err == nil {
		t.Errorf("socketpair: queue %d, backlog %d, no error", q, b)
	}
}

// TestParseDiag reads the answers sock_diag gives: the queue, an error,
// and one without the attribute.
func TestParseDiag(t *testing.T) {
	ne := binary.NativeEndian
	msg := func(typ uint16, body []byte) []byte {
		b := make([]byte, unix.NLMSG_HDRLEN, unix.NLMSG_HDRLEN+len(body))
		b = append(b, body...)
		ne.PutUint32(b, uint32(len(b)))
		ne.PutUint16(b[4:], typ)
		return b
	}
	attr := func(typ uint16, vals ...uint32) []byte {
		a := make([]byte, 4+4*len(vals))
		ne.PutUint16(a, uint16(len(a)))
		ne.PutUint16(a[2:], typ)
		for i, v := range vals {
			ne.PutUint32(a[4+4*i:], v)
		}
		return a
	}
	head := make([]byte, diagMsgLen)
	ok := msg(unix.SOCK_DIAG_BY_FAMILY, append(append(head, attr(1, 9)...), attr(unixDiagRQLen, 3, 128)...))
	if q, b, err := parseDiag(ok); err != nil || q != 3 || b != 128 {
		t.Errorf("answer: %d %d %v, want 3 128", q, b, err)
	}
	errno := make([]byte, 4)
	ne.PutUint32(errno, uint32(^uint32(unix.ENOENT)+1)) // -ENOENT
	if _, _, err := parseDiag(msg(unix.NLMSG_ERROR, errno)); err == nil || !errors.Is(err, unix.ENOENT) {
		t.Errorf("error answer: %v, want ENOENT", err)
	}
	if _, _, err := parseDiag(msg(unix.SOCK_DIAG_BY_FAMILY, head)); err != errNoRQLen {
		t.Errorf("no attribute: %v, want errNoRQLen", err)
	}
	if _, _, err := parseDiag([]byte{1, 2}); err == nil {
		t.Error("short answer: no error")
	}
}
