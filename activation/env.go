package activation

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Env is the process environment as this package reads and changes it:
// [ListenFDs] takes one so that tests can pass their own. A nil field stands
// for the real call (os.LookupEnv, os.Unsetenv, os.Getpid), so the zero Env
// is this process's environment.
type Env struct {
	LookupEnv func(key string) (string, bool)
	Unsetenv  func(key string) error
	Getpid    func() int
}

func (e Env) lookup(key string) (string, bool) {
	if e.LookupEnv == nil {
		return os.LookupEnv(key)
	}
	return e.LookupEnv(key)
}

func (e Env) getpid() int {
	if e.Getpid == nil {
		return os.Getpid()
	}
	return e.Getpid()
}

// take returns the value of key and removes it from the environment.
func (e Env) take(key string) (string, bool) {
	v, ok := e.lookup(key)
	if ok {
		if e.Unsetenv == nil {
			os.Unsetenv(key)
		} else {
			e.Unsetenv(key)
		}
	}
	return v, ok
}

// Variables of systemd socket activation (sd_listen_fds(3)).
const (
	envListenPID     = "LISTEN_PID"
	envListenFDs     = "LISTEN_FDS"
	envListenFDNames = "LISTEN_FDNAMES"
	envListenPIDFDID = "LISTEN_PIDFDID"
	envNotifySocket  = "NOTIFY_SOCKET"
	envWatchdogUSec  = "WATCHDOG_USEC"
	envWatchdogPID   = "WATCHDOG_PID"

	maxListenFDs = 1 << 16 // far above any socket unit
)

// ListenFDsStart is the first descriptor systemd passes (SD_LISTEN_FDS_START).
const ListenFDsStart = 3

// ListenFDs reads systemd's socket activation variables, LISTEN_PID,
// LISTEN_FDS and LISTEN_FDNAMES, and unsets them and LISTEN_PIDFDID, as
// sd_listen_fds_with_names does with unset_environment set
// (sd_listen_fds(3), https://www.freedesktop.org/software/systemd/man/latest/sd_listen_fds.html):
// no child inherits them, and only the first call sees them.
//
// When ok, the descriptors are this process's: names[i] is the name of
// descriptor [ListenFDsStart]+i (its socket unit's FileDescriptorName=), or
// "unknown" for each when systemd set no names. ok is false, names nil and
// err nil when the variables are absent, LISTEN_FDS is 0, or LISTEN_PID is
// another process: as sd_listen_fds returns 0 then, those descriptors are
// not this process's to use. LISTEN_PIDFDID is removed but not checked:
// LISTEN_PID is. err is set when LISTEN_PID is not a pid, LISTEN_FDS not a
// count, or LISTEN_FDNAMES holds another number of names.
//
// ListenFDs does not touch the descriptors: the caller takes them, should
// set close-on-exec on them (sd_listen_fds does), and closes them.
func ListenFDs(env Env) (names []string, ok bool, err error) {
	pidText, havePID := env.take(envListenPID)
	fdsText, haveFDs := env.take(envListenFDs)
	namesText, haveNames := env.take(envListenFDNames)
	env.take(envListenPIDFDID)
	if !havePID || !haveFDs {
		return nil, false, nil
	}
	pid, err := strconv.Atoi(pidText)
	if err != nil || pid <= 0 {
		return nil, false, fmt.Errorf("%s=%q: not a pid", envListenPID, pidText)
	}
	if pid != env.getpid() {
		return nil, false, nil
	}
	n, err := strconv.Atoi(fdsText)
	if err != nil || n < 0 || n > maxListenFDs {
		return nil, false, fmt.Errorf("%s=%q: not a count of descriptors", envListenFDs, fdsText)
	}
	if n == 0 {
		return nil, false, nil
	}
	if haveNames {
		names = strings.Split(namesText, ":")
		if len(names) != n {
			return nil, false, fmt.Errorf("%s=%q: %d names for %s=%d", envListenFDNames, namesText, len(names), envListenFDs, n)
		}
	} else {
		names = make([]string, n)
		for i := range names {
			names[i] = "unknown" // what systemd reports for an unnamed fd
		}
	}
	return names, true, nil
}

// listenFiles turns the passed descriptors into listeners: every descriptor
// gets close-on-exec; those named in want (all when want is empty) that are
// listening stream sockets become listeners, and this package then owns
// them. Others are left open for the application. It fails when none is
// usable, or when a descriptor named in want is not a listening stream socket.
func listenFiles(names []string, want []string) ([]net.Listener, error) {
	var lns []net.Listener
	fail := func(err error) ([]net.Listener, error) {
		for _, ln := range lns {
			ln.Close()
		}
		return nil, err
	}
	for i, name := range names {
		fd := ListenFDsStart + i
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil {
			return fail(fmt.Errorf("%s: fd %d (%q): %w", envListenFDs, fd, name, err))
		}
		unix.CloseOnExec(fd)
		named := len(want) == 0
		for _, w := range want {
			named = named || w == name
		}
		if !named {
			continue
		}
		if !isStreamListener(fd) {
			if len(want) == 0 {
				continue // a datagram socket, FIFO, ...: not ours
			}
			return fail(fmt.Errorf("%s: fd %d (%q) is not a listening stream socket", envListenFDs, fd, name))
		}
		f := os.NewFile(uintptr(fd), name)
		ln, err := net.FileListener(f) // dups the descriptor
		f.Close()
		if err != nil {
			return fail(fmt.Errorf("%s: fd %d (%q): %w", envListenFDs, fd, name, err))
		}
		lns = append(lns, ln)
	}
	if len(lns) == 0 {
		if len(want) > 0 {
			return nil, fmt.Errorf("%s: no descriptor named %s in %q", envListenFDs, strings.Join(want, " or "), strings.Join(names, ":"))
		}
		return nil, fmt.Errorf("%s: no listening stream socket among %d descriptors", envListenFDs, len(names))
	}
	return lns, nil
}

func isStreamListener(fd int) bool {
	typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	if err != nil || typ != unix.SOCK_STREAM {
		return false
	}
	acc, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN)
	return err == nil && acc == 1
}

// openChannel takes over the worker's end of the channel named by
// ZSM_CHANNEL_FD: checks it is a unix SOCK_SEQPACKET socket, sets
// close-on-exec and returns it as a *net.UnixConn. The original descriptor is
// closed (the returned conn holds a duplicate).
func openChannel(fdText string) (*net.UnixConn, error) {
	fd, err := strconv.Atoi(fdText)
	if err != nil || fd < 0 {
		return nil, fmt.Errorf("%s=%q: not a descriptor", EnvChannelFD, fdText)
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil {
		return nil, fmt.Errorf("%s=%d: %w", EnvChannelFD, fd, err)
	}
	domain, err1 := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN)
	typ, err2 := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	if err1 != nil || err2 != nil || domain != unix.AF_UNIX || typ != unix.SOCK_SEQPACKET {
		return nil, fmt.Errorf("%s=%d: not a unix SOCK_SEQPACKET socket", EnvChannelFD, fd)
	}
	unix.CloseOnExec(fd)
	f := os.NewFile(uintptr(fd), "zsm-channel")
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("%s=%d: %w", EnvChannelFD, fd, err)
	}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		c.Close()
		return nil, fmt.Errorf("%s=%d: not a unix socket", EnvChannelFD, fd)
	}
	return uc, nil
}

// watchdogInterval returns the interval at which this process must send
// WATCHDOG=1, taking the variables that say it: ZSM_WATCHDOG_USEC under zsm
// handoff, else WATCHDOG_USEC (and WATCHDOG_PID, which must be this
// process when set), as sd_watchdog_enabled(3) reads them. Zero: none.
func watchdogInterval(env Env, mode Mode) time.Duration {
	name := envWatchdogUSec
	if mode == ModeHandoff {
		name = EnvWatchdogUSec
	}
	usecText, ok := env.take(name)
	pidText, pidOK := env.take(envWatchdogPID)
	if !ok {
		return 0
	}
	if pidOK && pidText != strconv.Itoa(env.getpid()) {
		return 0
	}
	usec, err := strconv.ParseUint(usecText, 10, 63)
	if err != nil || usec == 0 {
		return 0
	}
	return time.Duration(usec) * time.Microsecond
}

// notifier sends sd_notify(3) messages to $NOTIFY_SOCKET. A nil notifier
// does nothing: off systemd (and off a zsm broker) there is no one to tell.
type notifier struct {
	addr *net.UnixAddr
}

func newNotifier(env Env) *notifier {
	path, ok := env.lookup(envNotifySocket)
	if !ok || path == "" || (path[0] != '/' && path[0] != '@') {
		return nil // absent, or a transport (vsock) this package does not speak
	}
	return &notifier{addr: &net.UnixAddr{Name: path, Net: "unixgram"}}
}

func (n *notifier) notify(state string) error {
	if n == nil {
		return nil
	}
	c, err := net.DialUnix("unixgram", nil, n.addr)
	if err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(state)); err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	return nil
}
