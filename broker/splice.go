package broker

import (
	"errors"
	"net"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// Proxy mode moves bytes with splice(2) through a pipe, so that they stay in
// the kernel. Unlike io.Copy's splice, which holds a pipe (two fds) for as
// long as a connection lives, a copy here holds one only while bytes are in
// flight: an idle connection costs its two sockets and nothing more, so that
// a broker holds as many idle connections as its fd limit allows, halved.

// pipe is a non-blocking pipe and how many bytes sit in it.
type pipe struct {
	r, w int
	n    int
}

// pipes is a free list of empty pipes, shared by a broker's copies.
type pipes struct {
	mu    sync.Mutex // guards free and inUse
	free  []*pipe
	inUse int // pipes taken and not yet put back
}

// maxFreePipes bounds the idle pipes kept for reuse.
const maxFreePipes = 64

// spliceChunk is the most one splice call moves: a pipe's default size.
const spliceChunk = 64 << 10

func (ps *pipes) get() (*pipe, error) {
	ps.mu.Lock()
	ps.inUse++
	if n := len(ps.free); n > 0 {
		p := ps.free[n-1]
		ps.free = ps.free[:n-1]
		ps.mu.Unlock()
		return p, nil
	}
	ps.mu.Unlock()
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		ps.mu.Lock()
		ps.inUse--
		ps.mu.Unlock()
		return nil, err
	}
	return &pipe{r: fds[0], w: fds[1]}, nil
}

// put takes back a pipe; one with bytes left in it is closed.
func (ps *pipes) put(p *pipe) {
	ps.mu.Lock()
	ps.inUse--
	if p.n == 0 && len(ps.free) < maxFreePipes {
		ps.free = append(ps.free, p)
		p = nil
	}
	ps.mu.Unlock()
	if p != nil {
		p.close()
	}
}

func (p *pipe) close() {
	unix.Close(p.r)
	unix.Close(p.w)
}

// close closes the free pipes.
func (ps *pipes) close() {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	for _, p := range ps.free {
		p.close()
	}
	ps.free = nil
}

// copyConn copies from src to dst until src ends (nil) or either fails.
func (ps *pipes) copyConn(dst, src syscall.Conn) error {
	in, err := src.SyscallConn()
	if err != nil {
		return err
	}
	out, err := dst.SyscallConn()
	if err != nil {
		return err
	}
	var p *pipe // held while bytes flow, given back before waiting
	defer func() {
		if p != nil {
			ps.put(p)
		}
	}()
	for {
		var n int64
		var serr error
		err := in.Read(func(fd uintptr) bool {
			if p == nil {
				if p, serr = ps.get(); serr != nil {
					return true
				}
			}
			for {
				n, serr = unix.Splice(int(fd), nil, p.w, nil, spliceChunk, unix.SPLICE_F_MOVE|unix.SPLICE_F_NONBLOCK)
				if serr != unix.EINTR {
					break
				}
			}
			if serr == unix.EAGAIN {
				// Nothing to read: wait for more without a pipe.
				ps.put(p)
				p = nil
				return false
			}
			return true
		})
		switch {
		case err != nil:
			return err
		case serr != nil:
			return serr
		case n == 0:
			return nil // src's end
		}
		p.n += int(n)
		for p.n > 0 {
			if err := out.Write(func(fd uintptr) bool {
				m, err := unix.Splice(p.r, nil, int(fd), nil, p.n, unix.SPLICE_F_MOVE|unix.SPLICE_F_NONBLOCK)
				switch err {
				case nil:
					p.n -= int(m)
				case unix.EAGAIN:
					return false // dst is full: wait until it takes more
				case unix.EINTR:
				default:
					serr = err
				}
				return true
			}); err != nil {
				return err
			}
			if serr != nil {
				return serr
			}
		}
	}
}

// splice copies both ways between a and b until both sides are done, then
// closes them.
func (ps *pipes) splice(a, b net.Conn) {
	done := make(chan struct{})
	go func() {
		ps.copyBoth(b, a)
		close(done)
	}()
	ps.copyBoth(a, b)
	<-done
	a.Close()
	b.Close()
}

// copyBoth copies src to dst, then passes src's end on to dst; on an
// error, both are closed so that the other direction ends too.
func (ps *pipes) copyBoth(dst, src net.Conn) {
	sd, ok1 := dst.(syscall.Conn)
	ss, ok2 := src.(syscall.Conn)
	if !ok1 || !ok2 {
		dst.Close()
		src.Close()
		return
	}
	if err := ps.copyConn(sd, ss); err != nil && !errors.Is(err, net.ErrClosed) {
		dst.Close()
		src.Close()
		return
	}
	closeWrite(dst)
}
