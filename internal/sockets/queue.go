package sockets

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// AcceptQueue reports how many connections wait in the kernel's accept
// queue of fd, a listening stream socket, and the queue's limit (the
// backlog given to listen(2), capped by net.core.somaxconn). It does not
// change fd.
//
// TCP sockets answer with getsockopt TCP_INFO: on a listening socket
// tcpi_unacked is the accept queue and tcpi_sacked the backlog. Unix
// sockets answer with one sock_diag netlink request (sock_diag(7),
// UDIAG_SHOW_RQLEN), which needs the kernel's unix_diag (CONFIG_UNIX_DIAG,
// loaded on demand on Debian); where it is missing the error says so.
func AcceptQueue(fd int) (queue, backlog uint32, err error) {
	if on, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN); err != nil || on != 1 {
		return 0, 0, errNotListening
	}
	domain, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN)
	if err != nil {
		return 0, 0, os.NewSyscallError("getsockopt SO_DOMAIN", err)
	}
	switch domain {
	case unix.AF_INET, unix.AF_INET6:
		info, err := unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO)
		if err != nil {
			return 0, 0, os.NewSyscallError("getsockopt TCP_INFO", err)
		}
		return info.Unacked, info.Sacked, nil
	case unix.AF_UNIX:
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			return 0, 0, os.NewSyscallError("fstat", err)
		}
		return unixQueue(uint32(st.Ino))
	}
	return 0, 0, fmt.Errorf("sockets: accept queue: address family %d", domain)
}

// Netlink's sock_diag for unix sockets (linux/unix_diag.h).
const (
	udiagShowRQLen = 0x10 // UDIAG_SHOW_RQLEN
	unixDiagRQLen  = 4    // UNIX_DIAG_RQLEN: for a listener, queue length and backlog
	tcpListen      = 10   // TCP_LISTEN: the state of a listening socket
	diagReqLen     = 24   // struct unix_diag_req
	diagMsgLen     = 16   // struct unix_diag_msg
)

// unixQueue asks the kernel, over sock_diag, for the accept queue and
// backlog of the listening unix socket with inode ino.
func unixQueue(ino uint32) (queue, backlog uint32, err error) {
	nl, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return 0, 0, os.NewSyscallError("socket NETLINK_SOCK_DIAG", err)
	}
	defer unix.Close(nl)
	ne := binary.NativeEndian
	req := make([]byte, unix.NLMSG_HDRLEN+diagReqLen)
	ne.PutUint32(req[0:], uint32(len(req)))         // nlmsg_len
	ne.PutUint16(req[4:], unix.SOCK_DIAG_BY_FAMILY) // nlmsg_type
	ne.PutUint16(req[6:], unix.NLM_F_REQUEST)       // nlmsg_flags: one socket, no dump
	r := req[unix.NLMSG_HDRLEN:]
	r[0] = unix.AF_UNIX                  // sdiag_family
	ne.PutUint32(r[4:], 1<<tcpListen)    // udiag_states
	ne.PutUint32(r[8:], ino)             // udiag_ino
	ne.PutUint32(r[12:], udiagShowRQLen) // udiag_show
	ne.PutUint64(r[16:], ^uint64(0))     // udiag_cookie: INET_DIAG_NOCOOKIE
	if err := unix.Sendto(nl, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return 0, 0, os.NewSyscallError("sendto sock_diag", err)
	}
	// The kernel answers within sendto: the reply is queued already.
	buf := make([]byte, 1024)
	n, _, err := unix.Recvfrom(nl, buf, unix.MSG_DONTWAIT)
	if err != nil {
		return 0, 0, os.NewSyscallError("recvfrom sock_diag", err)
	}
	return parseDiag(buf[:n])
}

// errNotListening is the answer for a socket that does not listen.
var errNotListening = errors.New("sockets: accept queue: not a listening socket")

// errNoRQLen is a sock_diag answer without the queue lengths.
var errNoRQLen = errors.New("sockets: sock_diag answer without UNIX_DIAG_RQLEN")

// parseDiag reads the queue length and backlog from a sock_diag answer:
// one netlink message, an error or a unix_diag_msg and its attributes.
func parseDiag(b []byte) (queue, backlog uint32, err error) {
	ne := binary.NativeEndian
	if len(b) < unix.NLMSG_HDRLEN+4 {
		return 0, 0, fmt.Errorf("sockets: sock_diag answer of %d bytes", len(b))
	}
	n := min(int(ne.Uint32(b)), len(b))
	switch ne.Uint16(b[4:]) {
	case unix.NLMSG_ERROR:
		errno := -int32(ne.Uint32(b[unix.NLMSG_HDRLEN:]))
		return 0, 0, os.NewSyscallError("sock_diag", unix.Errno(errno))
	case unix.SOCK_DIAG_BY_FAMILY:
	default:
		return 0, 0, fmt.Errorf("sockets: sock_diag answer of type %d", ne.Uint16(b[4:]))
	}
	for a := unix.NLMSG_HDRLEN + diagMsgLen; a+4 <= n; {
		alen, typ := int(ne.Uint16(b[a:])), ne.Uint16(b[a+2:])
		if alen < 4 || a+alen > n {
			break
		}
		if typ == unixDiagRQLen && alen >= 12 {
			return ne.Uint32(b[a+4:]), ne.Uint32(b[a+8:]), nil
		}
		a += (alen + 3) &^ 3
	}
	return 0, 0, errNoRQLen
}
