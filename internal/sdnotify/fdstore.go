package sdnotify

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// StoreFD hands fd to the service manager's file descriptor store under
// name (FDSTORE=1, FDNAME=; the unit needs FileDescriptorStoreMax=): the
// next start of the service gets it back in LISTEN_FDS with that name.
// The manager keeps a duplicate; the caller still owns fd. go-systemd's
// SdNotify cannot send fds, hence this sendmsg.
func (n *Notifier) StoreFD(name string, fd int) error {
	if n == nil || !n.enabled {
		return errors.New("sdnotify: no service manager to store fds in")
	}
	return send(fmt.Sprintf("FDSTORE=1\nFDNAME=%s", name), fd)
}

// RemoveFDs drops every stored fd called name (FDSTOREREMOVE=1).
func (n *Notifier) RemoveFDs(name string) error {
	if n == nil || !n.enabled {
		return nil
	}
	return send(fmt.Sprintf("FDSTOREREMOVE=1\nFDNAME=%s", name), -1)
}

// send writes one datagram to $NOTIFY_SOCKET, with fd in SCM_RIGHTS when
// fd >= 0.
func send(state string, fd int) error {
	addr := os.Getenv("NOTIFY_SOCKET")
	if addr == "" {
		return errors.New("sdnotify: NOTIFY_SOCKET is not set")
	}
	if strings.HasPrefix(addr, "@") {
		addr = "\x00" + addr[1:]
	}
	s, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return os.NewSyscallError("socket", err)
	}
	defer unix.Close(s)
	var oob []byte
	if fd >= 0 {
		oob = unix.UnixRights(fd)
	}
	if err := unix.Sendmsg(s, []byte(state), oob, &unix.SockaddrUnix{Name: addr}, 0); err != nil {
		return &net.OpError{Op: "sendmsg", Net: "unixgram", Err: err}
	}
	return nil
}
