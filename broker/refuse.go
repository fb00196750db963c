package broker

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"

	"github.com/zsm-dev/zsm/activation"
	"github.com/zsm-dev/zsm/internal/config"
)

// sockaddrString is sa as PEER= gives it.
func sockaddrString(sa unix.Sockaddr) string {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port)).String()
	case *unix.SockaddrInet6:
		ip := netip.AddrFrom16(sa.Addr)
		if sa.ZoneId != 0 {
			if ifi, err := net.InterfaceByIndex(int(sa.ZoneId)); err == nil {
				ip = ip.WithZone(ifi.Name)
			}
		}
		return netip.AddrPortFrom(ip, uint16(sa.Port)).String()
	case *unix.SockaddrUnix:
		if !activation.ValidValue(sa.Name) {
			return "" // not a value the protocol can carry
		}
		return sa.Name
	}
	return ""
}

// Refuse answers a connection the site cannot serve and closes it: an http
// site's client gets "503 Service Unavailable" with the reason (and what
// it sent is read, so that the close does not reset the connection before
// the client has read the answer); any other site's is closed. It may
// block for up to 2s: call it on its own goroutine.
func Refuse(c net.Conn, site *config.Site, reason string) {
	defer c.Close()
	if site.Protocol != config.HTTP {
		return
	}
	c.SetDeadline(time.Now().Add(2 * time.Second))
	c.Write(refusal(site, reason))
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	io.Copy(io.Discard, io.LimitReader(c, 1<<20))
}

// refuseNow answers an http site's client on its socket fd at once, with
// no goroutine and no other fd: for a broker out of fds, where Refuse
// cannot have its net.Conn. What the client sent and is already here is
// read first, so that closing fd (the caller's part) does not reset the
// connection under the answer.
func refuseNow(fd int, site *config.Site, reason string) {
	if site.Protocol != config.HTTP {
		return
	}
	var buf [4096]byte
	for range 16 {
		if n, _, err := unix.Recvfrom(fd, buf[:], unix.MSG_DONTWAIT); n <= 0 || err != nil {
			break
		}
	}
	unix.SendmsgN(fd, refusal(site, reason), nil, nil, unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL)
	unix.Shutdown(fd, unix.SHUT_WR)
}

// refusal is the 503 an http site's client gets, with the reason.
func refusal(site *config.Site, reason string) []byte {
	return failure(site, http.StatusServiceUnavailable, reason)
}

// failure is the answer with status code an http site's client gets when
// the site cannot serve it, with the reason.
func failure(site *config.Site, code int, reason string) []byte {
	body := fmt.Sprintf("zsm: site %q is unavailable: %s\n", site.Name, reason)
	return fmt.Appendf(nil, "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\nConnection: close\r\nRetry-After: 1\r\n\r\n%s",
		code, http.StatusText(code), len(body), body)
}
