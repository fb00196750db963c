package activation

import (
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// pair returns both ends of a channel as *net.UnixConn.
func pair(t testing.TB) (a, b *net.UnixConn) {
	t.Helper()
	a, fd := socketpair(t)
	f := os.NewFile(uintptr(fd), "b")
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return a, c.(*net.UnixConn)
}

// sendRaw sends payload with fds, bypassing WriteMessage's checks.
func sendRaw(t *testing.T, c *net.UnixConn, payload string, fds ...int) {
	t.Helper()
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	if _, _, err := c.WriteMsgUnix([]byte(payload), oob, nil); err != nil {
		t.Fatal(err)
	}
}

func TestTransportConn(t *testing.T) {
	checkLeaks(t)
	a, b := pair(t)
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	client, err := net.Dial("tcp", tcp.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := tcp.Accept()
	if err != nil {
		t.Fatal(err)
	}
	h := Handoff{ID: 3, Listener: "web", Peer: client.LocalAddr().String()}
	if err := WriteMessage(a, h.Message(), server.(*net.TCPConn)); err != nil {
		t.Fatal(err)
	}
	server.Close() // the broker's copy

	m, f, err := ReadMessage(b)
	if err != nil {
		t.Fatal(err)
	}
	if f == nil {
		t.Fatal("no descriptor")
	}
	flags, err := unix.FcntlInt(f.Fd(), unix.F_GETFD, 0)
	if err != nil || flags&unix.FD_CLOEXEC == 0 {
		t.Errorf("received descriptor: flags %#x, %v; want close-on-exec", flags, err)
	}
	got, err := ParseHandoff(m)
	if err != nil || got != h {
		t.Fatalf("got %+v, %v; want %+v", got, err, h)
	}
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "through the passed socket")
	c.Close()
	if b, _ := io.ReadAll(client); string(b) != "through the passed socket" {
		t.Errorf("client read %q", b)
	}
}

func TestTransportErrors(t *testing.T) {
	tests := []struct {
		name string
		send func(t *testing.T, c *net.UnixConn, fd int)
	}{
		{"two descriptors", func(t *testing.T, c *net.UnixConn, fd int) {
			sendRaw(t, c, "CONN=1", fd, fd)
		}},
		{"more descriptors than fit (MSG_CTRUNC)", func(t *testing.T, c *net.UnixConn, fd int) {
			fds := make([]int, 20)
			for i := range fds {
				fds[i] = fd
			}
			sendRaw(t, c, "CONN=1", fds...)
		}},
		{"datagram too large (MSG_TRUNC)", func(t *testing.T, c *net.UnixConn, fd int) {
			sendRaw(t, c, "STATUS="+strings.Repeat("x", 2*MaxMessageSize), fd)
		}},
		{"malformed with a descriptor", func(t *testing.T, c *net.UnixConn, fd int) {
			sendRaw(t, c, "CONN=1\n\n", fd)
		}},
		{"empty datagram with a descriptor", func(t *testing.T, c *net.UnixConn, fd int) {
			sendRaw(t, c, "", fd)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkLeaks(t)
			a, b := pair(t)
			f, err := os.Open(os.DevNull)
			if err != nil {
				t.Fatal(err)
			}
			tt.send(t, a, int(f.Fd()))
			f.Close()
			m, got, err := ReadMessage(b)
			if !errors.Is(err, ErrProtocol) || got != nil {
				t.Fatalf("ReadMessage = %v, %v, %v; want ErrProtocol and no file", m, got, err)
			}
			// The channel is still usable.
			if err := WriteMessage(a, Message{{"STATUS", "next"}}, nil); err != nil {
				t.Fatal(err)
			}
			m, got, err = ReadMessage(b)
			if err != nil || got != nil {
				t.Fatalf("next message: %v, %v, %v", m, got, err)
			}
			if diff := cmp.Diff(Message{{"STATUS", "next"}}, m); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestTransportEOF(t *testing.T) {
	a, b := pair(t)
	if err := WriteMessage(a, Message{{"READY", "1"}}, nil); err != nil {
		t.Fatal(err)
	}
	a.CloseWrite()
	if m, _, err := ReadMessage(b); err != nil || len(m) != 1 {
		t.Fatalf("queued message: %v, %v", m, err)
	}
	for range 2 {
		if _, _, err := ReadMessage(b); !errors.Is(err, io.EOF) {
			t.Fatalf("got %v, want io.EOF", err)
		}
	}
	// A half-closed channel still carries the other way.
	if err := WriteMessage(b, Message{{"DONE", "1"}}, nil); err != nil {
		t.Fatal(err)
	}
	if m, _, err := ReadMessage(a); err != nil || len(m) != 1 {
		t.Fatalf("after shutdown: %v, %v", m, err)
	}
	if err := WriteMessage(b, nil, nil); !errors.Is(err, ErrProtocol) {
		t.Errorf("writing an empty message: %v", err)
	}
}

// TestReadMessageReusesBuffers checks that reading a message allocates
// what the message keeps, not a datagram's worth of buffer: a worker reads
// one per connection.
func TestReadMessageReusesBuffers(t *testing.T) {
	a, b := pair(t)
	payload := []byte("CONN=1\nID=7\nPEER=127.0.0.1:5000\n")
	read := func() {
		if _, err := a.Write(payload); err != nil {
			t.Fatal(err)
		}
		m, f, err := ReadMessage(b)
		if err != nil || f != nil || len(m) != 3 {
			t.Fatalf("ReadMessage = %v, %v, %v", m, f, err)
		}
	}
	read() // the pool's first buffers
	const n = 1000
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range n {
		read()
	}
	runtime.ReadMemStats(&after)
	// About 120 bytes; under the race detector about 1.5 KiB, as its
	// sync.Pool drops a quarter of what is put back.
	if per := (after.TotalAlloc - before.TotalAlloc) / n; per >= (MaxMessageSize+1)/2 {
		t.Errorf("%d bytes allocated per message; a %d-byte buffer each time?", per, MaxMessageSize+1)
	}
}

func BenchmarkReadMessage(b *testing.B) {
	w, r := pair(b)
	payload := []byte("CONN=1\nID=7\nPEER=127.0.0.1:5000\n")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := w.Write(payload); err != nil {
			b.Fatal(err)
		}
		if _, _, err := ReadMessage(r); err != nil {
			b.Fatal(err)
		}
	}
}
