package broker

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestAccept4 says who connected as the protocol's PEER= does, for every
// kind of peer a listener of the broker meets, and so does peername.
func TestAccept4(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		name    string
		network string
		listen  string
		local   string // the client's own address ("" for none)
		want    func(client net.Conn) string
	}{
		{name: "tcp4", network: "tcp4", listen: "127.0.0.1:0",
			want: func(c net.Conn) string { return c.LocalAddr().String() }},
		{name: "tcp6", network: "tcp6", listen: "[::1]:0",
			want: func(c net.Conn) string { return c.LocalAddr().String() }},
		{name: "unnamed unix", network: "unix", listen: filepath.Join(dir, "l1"),
			want: func(net.Conn) string { return "" }},
		{name: "named unix", network: "unix", listen: filepath.Join(dir, "l2"),
			local: filepath.Join(dir, "client"),
			want:  func(net.Conn) string { return filepath.Join(dir, "client") }},
		{name: "abstract unix", network: "unix", listen: filepath.Join(dir, "l3"),
			local: "@zsm-accept4-test",
			want:  func(net.Conn) string { return "@zsm-accept4-test" }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ln, err := net.Listen(tt.network, tt.listen)
			if err != nil {
				t.Skipf("cannot listen on %s %s: %v", tt.network, tt.listen, err)
			}
			defer ln.Close()
			d := net.Dialer{}
			if tt.local != "" {
				d.LocalAddr = &net.UnixAddr{Name: tt.local, Net: "unix"}
			}
			c, err := d.Dial(ln.Addr().Network(), ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			lf, err := fileOf(ln)
			if err != nil {
				t.Fatal(err)
			}
			defer lf.Close()
			fd, sa, err := accept4(int(lf.Fd()), unix.SOCK_CLOEXEC)
			if err != nil {
				t.Fatalf("accept4: %v", err)
			}
			defer unix.Close(fd)
			if got, want := sockaddrString(sa), tt.want(c); got != want {
				t.Errorf("accept4: peer %q (%#v), want %q", got, sa, want)
			}
			if sa, err := peername(fd); err != nil || sockaddrString(sa) != tt.want(c) {
				t.Errorf("peername = %q, %v; want %q", sockaddrString(sa), err, tt.want(c))
			}
		})
	}
	if _, _, err := accept4(-1, 0); err != unix.EBADF {
		t.Errorf("accept4(-1) = %v, want EBADF", err)
	}
}

// fileOf is the listener's socket as a blocking file.
func fileOf(ln net.Listener) (*os.File, error) {
	return ln.(interface{ File() (*os.File, error) }).File()
}

// TestDial connects to inet and inet6 backends, and says why it cannot.
func TestDial(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:0", "[::1]:0"} {
		t.Run(addr, func(t *testing.T) {
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				t.Skipf("cannot listen on %s: %v", addr, err)
			}
			sa, err := resolve(ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			fd, err := dial(sa)
			if err != nil {
				t.Fatalf("dial %s: %v", ln.Addr(), err)
			}
			defer closeFD(fd)
			ln.(*net.TCPListener).SetDeadline(time.Now().Add(10 * time.Second))
			c, err := ln.Accept()
			if err != nil {
				t.Fatalf("accept: %v", err)
			}
			defer c.Close()
			if local, err := unix.Getsockname(fd); err != nil || sockaddrString(local) != c.RemoteAddr().String() {
				t.Errorf("the backend's peer is %s; dial's socket is %s (%v)", c.RemoteAddr(), sockaddrString(local), err)
			}
			if n, err := unix.GetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY); err != nil || n == 0 {
				t.Errorf("TCP_NODELAY = %d, %v", n, err)
			}
			ln.Close()
			if fd, err := dial(sa); err == nil {
				// A refused connect on this host fails at once or, from
				// a non-blocking socket, shows as an error later.
				closeFD(fd)
			} else if !errors.Is(err, unix.ECONNREFUSED) {
				t.Errorf("dial to a closed port: %v, want ECONNREFUSED", err)
			}
		})
	}
}
