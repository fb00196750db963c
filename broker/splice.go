package broker

import (
	"bytes"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Proxy mode moves bytes with splice(2) through a pipe, so that they stay in
// the kernel. A connection holds a pipe only while bytes are in flight, not
// for as long as it lives (as io.Copy's splice does): an idle connection
// costs its two sockets and nothing more, so that a broker holds as many
// idle connections as its fd limit allows, halved.

// pipe is a non-blocking pipe and how many bytes sit in it.
type pipe struct {
	r, w int
	n    int
}

// pipes is a free list of empty pipes, used by the relay's goroutine only.
type pipes struct {
	free  []*pipe
	inUse int // pipes taken and not yet put back
}

// maxFreePipes bounds the idle pipes kept for reuse.
const maxFreePipes = 64

// spliceChunk is the most one splice call moves: a pipe's default size.
const spliceChunk = 64 << 10

func (ps *pipes) get() (*pipe, error) {
	if n := len(ps.free); n > 0 {
		p := ps.free[n-1]
		ps.free = ps.free[:n-1]
		ps.inUse++
		return p, nil
	}
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		return nil, err
	}
	ps.inUse++
	return &pipe{r: fds[0], w: fds[1]}, nil
}

// put takes back a pipe; one with bytes left in it is closed.
func (ps *pipes) put(p *pipe) {
	ps.inUse--
	if p.n == 0 && len(ps.free) < maxFreePipes {
		ps.free = append(ps.free, p)
		return
	}
	p.close()
}

func (p *pipe) close() {
	closeFD(p.r)
	closeFD(p.w)
}

// close closes the free pipes.
func (ps *pipes) close() {
	for _, p := range ps.free {
		p.close()
	}
	ps.free = nil
}

// The relay's syscalls on its hot path never block, so they are made raw:
// without telling the runtime, which would otherwise prepare for a
// blocking call (and its monitor watch for one) on every splice. Its wait
// is raw too, for the reasons relay.wait gives.

// splice moves up to n bytes from fd in to fd out without blocking.
func splice(in, out, n int) (int, error) {
	for {
		m, _, e := unix.RawSyscall6(unix.SYS_SPLICE, uintptr(in), 0, uintptr(out), 0, uintptr(n), unix.SPLICE_F_MOVE|unix.SPLICE_F_NONBLOCK)
		switch e {
		case 0:
			return int(m), nil
		case unix.EINTR:
			continue
		}
		return 0, e
	}
}

// accept4 is unix.Accept4, raw, without the getsockopt x/sys/unix makes
// on every accepted inet socket, and naming unix peers as PEER= does.
func accept4(fd, flags int) (int, unix.Sockaddr, error) {
	var rsa unix.RawSockaddrAny
	n := uint32(unix.SizeofSockaddrAny)
	nfd, _, e := unix.RawSyscall6(unix.SYS_ACCEPT4, uintptr(fd), uintptr(unsafe.Pointer(&rsa)), uintptr(unsafe.Pointer(&n)), uintptr(flags), 0, 0)
	if e != 0 {
		return -1, nil, e
	}
	return int(nfd), sockaddr(&rsa, n), nil
}

// connect is unix.Connect for inet and inet6 addresses, raw.
func connect(fd int, sa unix.Sockaddr) error {
	var e unix.Errno
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		raw := unix.RawSockaddrInet4{Family: unix.AF_INET, Port: netPort(sa.Port), Addr: sa.Addr}
		_, _, e = unix.RawSyscall(unix.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(&raw)), unix.SizeofSockaddrInet4)
	case *unix.SockaddrInet6:
		raw := unix.RawSockaddrInet6{Family: unix.AF_INET6, Port: netPort(sa.Port), Addr: sa.Addr, Scope_id: sa.ZoneId}
		_, _, e = unix.RawSyscall(unix.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(&raw)), unix.SizeofSockaddrInet6)
	default:
		return unix.EAFNOSUPPORT
	}
	if e != 0 {
		return e
	}
	return nil
}

// noDelay sets TCP_NODELAY, raw.
func noDelay(fd int) {
	one := int32(1)
	unix.RawSyscall6(unix.SYS_SETSOCKOPT, uintptr(fd), unix.IPPROTO_TCP, unix.TCP_NODELAY, uintptr(unsafe.Pointer(&one)), 4, 0)
}

// peername is unix.Getpeername, with the names of unix peers as accept4
// gives them.
func peername(fd int) (unix.Sockaddr, error) {
	var rsa unix.RawSockaddrAny
	n := uint32(unix.SizeofSockaddrAny)
	_, _, e := unix.RawSyscall(unix.SYS_GETPEERNAME, uintptr(fd), uintptr(unsafe.Pointer(&rsa)), uintptr(unsafe.Pointer(&n)))
	if e != 0 {
		return nil, e
	}
	return sockaddr(&rsa, n), nil
}

// sockaddr decodes what accept4 or getpeername filled in: an inet, inet6
// or unix address, or nil.
func sockaddr(rsa *unix.RawSockaddrAny, n uint32) unix.Sockaddr {
	switch rsa.Addr.Family {
	case unix.AF_INET:
		pp := (*unix.RawSockaddrInet4)(unsafe.Pointer(rsa))
		return &unix.SockaddrInet4{Port: port(pp.Port), Addr: pp.Addr}
	case unix.AF_INET6:
		pp := (*unix.RawSockaddrInet6)(unsafe.Pointer(rsa))
		return &unix.SockaddrInet6{Port: port(pp.Port), ZoneId: pp.Scope_id, Addr: pp.Addr}
	case unix.AF_UNIX:
		pp := (*unix.RawSockaddrUnix)(unsafe.Pointer(rsa))
		// n counts the family and the name: nothing more for a client
		// that did not bind its socket.
		k := min(max(int(n)-int(unsafe.Offsetof(pp.Path)), 0), len(pp.Path))
		name := make([]byte, k)
		for i := range name {
			name[i] = byte(pp.Path[i])
		}
		if k > 0 && name[0] == 0 {
			// Abstract: every byte counted is the name, but clients
			// that bind the whole struct pad it with NULs.
			name[0] = '@'
			name = bytes.TrimRight(name, "\x00")
		} else if i := bytes.IndexByte(name, 0); i >= 0 {
			name = name[:i] // a path ends at its NUL
		}
		return &unix.SockaddrUnix{Name: string(name)}
	}
	return nil
}

// port reads a port in network byte order.
func port(p uint16) int {
	b := (*[2]byte)(unsafe.Pointer(&p))
	return int(b[0])<<8 | int(b[1])
}

// netPort writes a port in network byte order.
func netPort(n int) uint16 {
	var p uint16
	b := (*[2]byte)(unsafe.Pointer(&p))
	b[0], b[1] = byte(n>>8), byte(n)
	return p
}

// epollCtl is unix.EpollCtl, raw.
func epollCtl(ep, op, fd int, ev *unix.EpollEvent) error {
	_, _, e := unix.RawSyscall6(unix.SYS_EPOLL_CTL, uintptr(ep), uintptr(op), uintptr(fd), uintptr(unsafe.Pointer(ev)), 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

// closeFD is unix.Close, raw: closing a socket without SO_LINGER or a pipe
// does not wait.
func closeFD(fd int) {
	unix.RawSyscall(unix.SYS_CLOSE, uintptr(fd), 0, 0)
}

// shutWrite is shutdown(fd, SHUT_WR), raw.
func shutWrite(fd int) {
	unix.RawSyscall(unix.SYS_SHUTDOWN, uintptr(fd), unix.SHUT_WR, 0)
}

// epollWait is unix.EpollWait, raw: relay.wait says why it may block.
func epollWait(ep int, evs []unix.EpollEvent, ms int) (int, error) {
	n, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(ep), uintptr(unsafe.Pointer(&evs[0])), uintptr(len(evs)), uintptr(ms), 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}
