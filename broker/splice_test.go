package broker

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/zsm-dev/zsm/activation"
)

// TestAccept4 says who connected as the protocol's PEER= does, for every
// kind of peer a listener of the broker meets, and so does peername.
func TestAccept4(t *testing.T) {
	dir := t.TempDir()
	abstract := fmt.Sprintf("@zsm-accept4-test-%d", os.Getpid())
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
			local: abstract,
			want:  func(net.Conn) string { return abstract }},
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
			fd, sa := acceptOn(t, ln)
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

// acceptOn takes a connection waiting on ln with accept4; the test closes it.
func acceptOn(t *testing.T, ln net.Listener) (int, unix.Sockaddr) {
	t.Helper()
	lf, err := ln.(interface{ File() (*os.File, error) }).File()
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	fd, sa, err := accept4(int(lf.Fd()), unix.SOCK_CLOEXEC)
	if err != nil {
		t.Fatalf("accept4: %v", err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd, sa
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
		})
	}
	if _, err := dial(&unix.SockaddrUnix{Name: "/nowhere"}); !errors.Is(err, unix.EAFNOSUPPORT) {
		t.Errorf("dial to a unix address: %v, want EAFNOSUPPORT", err)
	}
}

// A client that binds an abstract name with the whole struct pads it with
// NULs, which PEER= leaves out; a name PEER= cannot carry is left empty.
func TestUnixPeerNames(t *testing.T) {
	ln, err := net.Listen("unix", filepath.Join(t.TempDir(), "l"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(c)
	name := fmt.Sprintf("zsm-padded-%d", os.Getpid())
	var raw unix.RawSockaddrUnix
	raw.Family = unix.AF_UNIX
	for i := range len(name) {
		raw.Path[1+i] = int8(name[i])
	}
	if _, _, e := unix.Syscall(unix.SYS_BIND, uintptr(c), uintptr(unsafe.Pointer(&raw)), unix.SizeofSockaddrUnix); e != 0 {
		t.Fatalf("bind: %v", e)
	}
	if err := unix.Connect(c, &unix.SockaddrUnix{Name: ln.Addr().String()}); err != nil {
		t.Fatal(err)
	}
	if _, sa := acceptOn(t, ln); sockaddrString(sa) != "@"+name {
		t.Errorf("peer %q, want %q", sockaddrString(sa), "@"+name)
	}

	for _, bad := range []string{"/tmp/a\nb", "@x\x00y", "/tmp/\xff"} {
		h := activation.Handoff{ID: 1, Listener: "l", Peer: sockaddrString(&unix.SockaddrUnix{Name: bad})}
		if h.Peer != "" {
			t.Errorf("peer %q gives PEER=%q, want it empty", bad, h.Peer)
		}
		if _, err := h.Message().Format(); err != nil {
			t.Errorf("peer %q: %v", bad, err)
		}
	}
}

// A link-local backend keeps its interface, there and back.
func TestResolveZone(t *testing.T) {
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Skipf("no lo: %v", err)
	}
	sa, err := resolve("[fe80::1%lo]:8080")
	if err != nil {
		t.Fatal(err)
	}
	if in6, ok := sa.(*unix.SockaddrInet6); !ok || in6.ZoneId != uint32(lo.Index) || in6.Port != 8080 {
		t.Errorf("resolve = %#v, want zone %d (lo), port 8080", sa, lo.Index)
	}
	if got := sockaddrString(sa); got != "[fe80::1%lo]:8080" {
		t.Errorf("sockaddrString = %q", got)
	}
	if _, err := resolve("[fe80::1%no-such-if]:8080"); err == nil {
		t.Error("resolve with an unknown interface: no error")
	}
}
