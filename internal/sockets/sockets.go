package sockets

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/zsm-dev/zsm/activation"
	"github.com/zsm-dev/zsm/internal/config"
)

// Socket is one listening socket of a site.
type Socket struct {
	Addr config.Address
	Path string // unix: the resolved path on disk
	// File is the listening socket. The Socket owns it: Set.Close closes it.
	File *os.File
}

// StoredConn is the FDNAME of accepted connections a stopping broker put
// in systemd's fd store for the next broker to serve.
const StoredConn = "zsm-conn"

// Set is a site's listening sockets, in the order of the site's listen list.
type Set struct {
	Sockets []Socket
	// Stored are connections the previous broker accepted and left in the
	// fd store (named StoredConn). The caller takes them over.
	Stored []*os.File
	// FromSystemd says the sockets were passed by systemd; otherwise they
	// were bound here and Close removes their unix socket files.
	FromSystemd bool
}

// Close closes every socket and, for sockets bound here, removes the unix
// socket files that are still the ones it created.
func (s *Set) Close() error {
	var errs []error
	for _, sk := range s.Sockets {
		if !s.FromSystemd && sk.Addr.Net == config.NetUnix {
			if same(sk.File, sk.Path) {
				if err := os.Remove(sk.Path); err != nil && !errors.Is(err, os.ErrNotExist) {
					errs = append(errs, err)
				}
			}
		}
		errs = append(errs, sk.File.Close())
	}
	return errors.Join(errs...)
}

// same reports whether path is still the socket file f is bound to.
func same(f *os.File, path string) bool {
	var a unix.Stat_t
	if unix.Stat(path, &a) != nil {
		return false
	}
	// A socket's fstat gives a sockfs inode, not the file's: compare the
	// bound name instead, and that the file is a socket.
	sa, err := unix.Getsockname(int(f.Fd()))
	if err != nil {
		return false
	}
	u, ok := sa.(*unix.SockaddrUnix)
	return ok && u.Name == path && a.Mode&unix.S_IFMT == unix.S_IFSOCK
}

// Env is how Open reads and clears the process environment; tests swap it.
type Env = activation.Env

// OSEnv is the real process environment.
var OSEnv = Env{LookupEnv: os.LookupEnv, Unsetenv: os.Unsetenv, Getpid: os.Getpid}

// Open returns the site's sockets: systemd's when it passed any (an error
// when they do not match the site's listen addresses exactly), else sockets
// bound here. runtimeDir resolves relative unix paths.
func Open(site *config.Site, runtimeDir string, env Env) (*Set, error) {
	files, stored, err := Passed(env)
	if err != nil {
		return nil, err
	}
	return Match(site, runtimeDir, files, stored)
}

// Passed returns the fds systemd passed this process: its listening
// sockets and the connections a previous broker stored (named StoredConn);
// none when it passed none. It clears the variables so that no child
// inherits them. The caller owns the files.
func Passed(env Env) (listeners, stored []*os.File, err error) {
	files, err := inherited(env)
	if err != nil {
		return nil, nil, err
	}
	for _, f := range files {
		if f.Name() == StoredConn {
			stored = append(stored, f)
		} else {
			listeners = append(listeners, f)
		}
	}
	return listeners, stored, nil
}

// Match returns the site's sockets from what Passed returned: systemd's
// when it passed any (an error when they do not match the site's listen
// addresses exactly), else sockets bound here.
func Match(site *config.Site, runtimeDir string, files, stored []*os.File) (*Set, error) {
	if files != nil {
		socks, err := match(site, runtimeDir, files)
		if err != nil {
			for _, f := range stored {
				f.Close() // the next broker for this site will not be this one
			}
			return nil, &MismatchError{Err: err, Files: files}
		}
		return &Set{Sockets: socks, Stored: stored, FromSystemd: true}, nil
	}
	return Bind(site, runtimeDir)
}

// MismatchError is Open's error when systemd passed sockets that do not
// match the site's listen addresses. The caller owns Files: it should
// answer the connections waiting on them (Refuse) and close them.
type MismatchError struct {
	Err   error
	Files []*os.File
}

func (e *MismatchError) Error() string { return e.Err.Error() }
func (e *MismatchError) Unwrap() error { return e.Err }

// Refuse accepts every connection already waiting on the listening sockets
// and answers it with refuse (which closes it), without waiting for more.
func Refuse(files []*os.File, refuse func(net.Conn)) {
	for _, f := range files {
		fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			continue
		}
		unix.SetNonblock(fd, true)
		for {
			c, _, err := unix.Accept4(fd, unix.SOCK_CLOEXEC)
			if err != nil {
				break
			}
			cf := os.NewFile(uintptr(c), "refused")
			conn, err := net.FileConn(cf)
			cf.Close()
			if err == nil {
				refuse(conn)
			}
		}
		unix.Close(fd)
	}
}

// inherited returns the fds systemd passed this process, or nil when it
// passed none (activation.ListenFDs: also when LISTEN_PID is another
// process). It clears the variables so that no child inherits them.
func inherited(env Env) ([]*os.File, error) {
	names, ok, err := activation.ListenFDs(env)
	if err != nil {
		return nil, fmt.Errorf("sockets: %w", err)
	}
	if !ok {
		return nil, nil
	}
	files := make([]*os.File, 0, len(names))
	for i, name := range names {
		fd := activation.ListenFDsStart + i
		unix.CloseOnExec(fd)
		if name == "" {
			name = "LISTEN_FD_" + strconv.Itoa(fd)
		}
		files = append(files, os.NewFile(uintptr(fd), name))
	}
	return files, nil
}

// match pairs passed fds with the site's addresses by what each fd is bound
// to: FileDescriptorName= names every fd of one socket unit alike.
func match(site *config.Site, runtimeDir string, files []*os.File) ([]Socket, error) {
	socks := make([]Socket, len(site.Listen))
	used := make([]bool, len(files))
	var problems []string
	for i, addr := range site.Listen {
		path := ""
		if addr.Net == config.NetUnix {
			path = addr.SocketPath(runtimeDir)
		}
		found := false
		for j, f := range files {
			if !used[j] && boundTo(f, addr, path) {
				socks[i] = Socket{Addr: addr, Path: path, File: f}
				used[j], found = true, true
				break
			}
		}
		if !found {
			problems = append(problems, "no passed socket is bound to "+addr.String())
		}
	}
	for j, f := range files {
		if !used[j] {
			problems = append(problems, fmt.Sprintf("passed socket %s (fd %d, bound to %s) is not in the config", f.Name(), f.Fd(), describe(f)))
		}
	}
	if problems != nil {
		return nil, fmt.Errorf("sockets: the socket unit does not match site %q (edited by hand, or units older than the config? run zsmgen units): %s",
			site.Name, strings.Join(problems, "; "))
	}
	return socks, nil
}

// boundTo reports whether f is a listening stream socket bound to addr.
func boundTo(f *os.File, addr config.Address, path string) bool {
	fd := int(f.Fd())
	if typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE); err != nil || typ != unix.SOCK_STREAM {
		return false
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return false
	}
	switch sa := sa.(type) {
	case *unix.SockaddrUnix:
		return addr.Net == config.NetUnix && filepath.Clean(sa.Name) == filepath.Clean(path)
	case *unix.SockaddrInet4:
		return addr.Net == config.NetTCP && sa.Port == addr.Port && hostIs(addr.Host, netip.AddrFrom4(sa.Addr))
	case *unix.SockaddrInet6:
		return addr.Net == config.NetTCP && sa.Port == addr.Port && hostIs(addr.Host, netip.AddrFrom16(sa.Addr))
	}
	return false
}

// hostIs compares a configured host with a bound one; "" (every interface)
// is bound as 0.0.0.0 or ::.
func hostIs(host string, bound netip.Addr) bool {
	if host == "" {
		return bound.IsUnspecified()
	}
	want, err := netip.ParseAddr(host)
	return err == nil && want.Unmap() == bound.Unmap()
}

func describe(f *os.File) string {
	sa, err := unix.Getsockname(int(f.Fd()))
	if err != nil {
		return "?"
	}
	switch sa := sa.(type) {
	case *unix.SockaddrUnix:
		return "unix:" + sa.Name
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port)).String()
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), uint16(sa.Port)).String()
	}
	return "?"
}

// Bind binds the site's addresses itself: tcp as configured, unix sockets
// created mode 0600, replacing a stale socket file but never a live one.
func Bind(site *config.Site, runtimeDir string) (*Set, error) {
	set := &Set{}
	for _, addr := range site.Listen {
		sk, err := bind(addr, runtimeDir)
		if err != nil {
			set.Close()
			return nil, fmt.Errorf("site %q: %w", site.Name, err)
		}
		set.Sockets = append(set.Sockets, sk)
	}
	return set, nil
}

// Backlog is the listen(2) backlog of sockets bound here, as systemd's default.
const Backlog = 4096

func bind(addr config.Address, runtimeDir string) (Socket, error) {
	if addr.Net == config.NetTCP {
		domain, sa := unix.AF_INET, unix.Sockaddr(&unix.SockaddrInet4{Port: addr.Port})
		if addr.Host == "" || strings.Contains(addr.Host, ":") {
			domain = unix.AF_INET6
			s6 := &unix.SockaddrInet6{Port: addr.Port}
			if addr.Host != "" {
				s6.Addr = netip.MustParseAddr(addr.Host).As16()
			}
			sa = s6
		} else {
			sa.(*unix.SockaddrInet4).Addr = netip.MustParseAddr(addr.Host).As4()
		}
		f, err := listen(domain, sa, func(fd int) error {
			if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
				return err
			}
			if domain == unix.AF_INET6 && addr.Host == "" {
				return unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 0)
			}
			return nil
		})
		if err != nil {
			return Socket{}, fmt.Errorf("listen on %s: %w", addr, err)
		}
		return Socket{Addr: addr, File: f}, nil
	}

	path := addr.SocketPath(runtimeDir)
	if err := removeStale(path); err != nil {
		return Socket{}, err
	}
	// On Linux the file bind(2) creates takes the socket's own mode (less
	// the umask), so setting it first leaves no moment the path is open
	// to others.
	f, err := listen(unix.AF_UNIX, &unix.SockaddrUnix{Name: path}, func(fd int) error {
		return unix.Fchmod(fd, 0o600)
	})
	if err != nil {
		return Socket{}, fmt.Errorf("listen on %s: %w", addr, err)
	}
	return Socket{Addr: addr, Path: path, File: f}, nil
}

// listen makes a listening stream socket, close-on-exec and blocking (the
// mode systemd passes them in).
func listen(domain int, sa unix.Sockaddr, setup func(fd int) error) (*os.File, error) {
	fd, err := unix.Socket(domain, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	f := os.NewFile(uintptr(fd), "listener")
	if setup != nil {
		if err := setup(fd); err != nil {
			f.Close()
			return nil, os.NewSyscallError("setsockopt", err)
		}
	}
	if err := unix.Bind(fd, sa); err != nil {
		f.Close()
		return nil, os.NewSyscallError("bind", err)
	}
	if err := unix.Listen(fd, Backlog); err != nil {
		f.Close()
		return nil, os.NewSyscallError("listen", err)
	}
	return f, nil
}

// ErrInUse is returned when a live socket already holds a unix path.
var ErrInUse = errors.New("sockets: address in use")

// removeStale removes a socket file nobody listens on; a live one is
// ErrInUse and anything that is not a socket is left alone with an error.
func removeStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode().Type() != os.ModeSocket {
		return fmt.Errorf("%s exists and is not a socket; not replacing it", path)
	}
	c, err := net.Dial("unix", path)
	if err == nil {
		c.Close()
		return fmt.Errorf("%w: %s has a live listener", ErrInUse, path)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("%s: cannot tell whether the socket is live: %w", path, err)
	}
	return os.Remove(path)
}
