package config

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// MaxSocketPath is the longest absolute unix socket path: sun_path holds
// 108 bytes with the terminating NUL (unix(7)).
const MaxSocketPath = 107

// ParseAddress reads an address as the configuration writes them (listen,
// status.listen): "HOST:PORT" with a literal IPv4 or bracketed IPv6 host,
// ":PORT" for every interface, or "unix:PATH". What it returns passes
// Address.Validate.
func ParseAddress(s string) (Address, error) {
	a, reason := parseAddress(s)
	if reason == "" {
		reason = a.problem()
	}
	if reason != "" {
		return Address{}, fmt.Errorf("%q: %s", s, reason)
	}
	return a, nil
}

// parseAddress splits s into an Address, or says why it cannot.
func parseAddress(s string) (Address, string) {
	if p, ok := strings.CutPrefix(s, "unix:"); ok {
		return Address{Net: NetUnix, Path: p}, ""
	}
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return Address{}, "want HOST:PORT, [IPv6]:PORT, :PORT or unix:PATH"
	}
	host, portStr := s[:i], s[i+1:]
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return Address{}, "the port must be a number from 1 to 65535"
	}
	if host == "" {
		return Address{Net: NetTCP, Port: port}, ""
	}
	bracketed := strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]")
	if bracketed {
		host = host[1 : len(host)-1]
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || ip.Zone() != "" {
		return Address{}, "the host must be a literal IP address (systemd does not resolve names)"
	}
	if ip.Is6() && !ip.Is4In6() && !bracketed {
		return Address{}, "write an IPv6 host in brackets, as in [::1]:8080"
	}
	return Address{Net: NetTCP, Host: ip.String(), Port: port}, ""
}

// Validate reports whether a can be bound: a tcp port from 1 to 65535 on a
// literal IP address without a zone (or "" for every interface), or a unix
// path that is not empty, not abstract, holds no newline or NUL byte and,
// when absolute, is at most MaxSocketPath bytes. A relative path is checked
// against MaxSocketPath only once joined to $XDG_RUNTIME_DIR, which is not
// known here.
func (a Address) Validate() error {
	if reason := a.problem(); reason != "" {
		return fmt.Errorf("%q: %s", a.String(), reason)
	}
	return nil
}

// problem says what is wrong with a, or "".
func (a Address) problem() string {
	switch a.Net {
	case NetUnix:
		switch p := a.Path; {
		case p == "":
			return "the unix socket path is empty"
		case strings.ContainsAny(p, "\x00\n"):
			return "a socket path cannot contain newlines or NUL bytes"
		case strings.HasPrefix(p, "@"):
			return "abstract sockets are not supported; use a path"
		case strings.HasPrefix(p, "/") && len(p) > MaxSocketPath:
			return fmt.Sprintf("a socket path can be at most %d bytes", MaxSocketPath)
		}
	case NetTCP:
		if a.Port < 1 || a.Port > 65535 {
			return "the port must be a number from 1 to 65535"
		}
		if a.Host == "" {
			return ""
		}
		if ip, err := netip.ParseAddr(a.Host); err != nil || ip.Zone() != "" {
			return "the host must be a literal IP address (systemd does not resolve names)"
		}
	default:
		return fmt.Sprintf("unknown network %q", a.Net)
	}
	return ""
}

// Public reports whether other hosts can reach a: a tcp address on every
// interface (no host, "0.0.0.0", "::") or on an IP address that is not a
// loopback one. A unix socket, or a tcp address on 127.0.0.0/8 or ::1
// (IPv4-mapped or not), is reachable from this host only.
func (a Address) Public() bool {
	if a.Net != NetTCP {
		return false
	}
	ip, err := netip.ParseAddr(a.Host)
	return err != nil || !ip.Unmap().IsLoopback()
}

// Conflicts reports whether a and b cannot both be bound: the same socket
// path, or the same port where one host is a wildcard or both hosts are
// equal.
func (a Address) Conflicts(b Address) bool {
	if a.Net != b.Net {
		return false
	}
	if a.Net == NetUnix {
		return a.Path == b.Path
	}
	if a.Port != b.Port {
		return false
	}
	return a.Host == b.Host || wildcard(a.Host) || wildcard(b.Host)
}

func wildcard(host string) bool {
	return host == "" || host == "0.0.0.0" || host == "::"
}

// AddressSet holds addresses, numbered from 0 in the order added, and
// finds the first one a new address conflicts with (Address.Conflicts) in
// time that does not grow with their number: a file may list thousands,
// and comparing each with every other would take minutes. The zero value
// is empty and ready to use.
type AddressSet struct {
	n     int
	paths map[string]int      // unix: the first address with each path
	ports map[portKey]portSet // others: by network and port
	hosts map[hostKey]int     // others: the first address with each host and port
}

type portKey struct {
	net  Network
	port int
}

type hostKey struct {
	portKey
	host string
}

// portSet is what AddressSet knows of one port.
type portSet struct {
	first    int // the first address on the port
	wildcard int // the first with a wildcard host, or -1
}

// Conflict returns the number of the first address in s that a conflicts
// with, or -1.
func (s *AddressSet) Conflict(a Address) int {
	if a.Net == NetUnix {
		if first, ok := s.paths[a.Path]; ok {
			return first
		}
		return -1
	}
	k := portKey{a.Net, a.Port}
	p, ok := s.ports[k]
	switch {
	case !ok:
		return -1
	case wildcard(a.Host):
		return p.first
	}
	first, ok := s.hosts[hostKey{k, a.Host}]
	if !ok || p.wildcard >= 0 && p.wildcard < first {
		first = p.wildcard
	}
	return first
}

// Add adds a to s, numbered one more than the address added before it.
func (s *AddressSet) Add(a Address) {
	i := s.n
	s.n++
	if a.Net == NetUnix {
		if s.paths == nil {
			s.paths = map[string]int{}
		}
		if _, ok := s.paths[a.Path]; !ok {
			s.paths[a.Path] = i
		}
		return
	}
	if s.ports == nil {
		s.ports, s.hosts = map[portKey]portSet{}, map[hostKey]int{}
	}
	k := portKey{a.Net, a.Port}
	p, ok := s.ports[k]
	if !ok {
		p = portSet{first: i, wildcard: -1}
	}
	if wildcard(a.Host) && p.wildcard < 0 {
		p.wildcard = i
	}
	s.ports[k] = p
	if _, ok := s.hosts[hostKey{k, a.Host}]; !ok {
		s.hosts[hostKey{k, a.Host}] = i
	}
}
