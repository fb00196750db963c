package broker

import (
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
