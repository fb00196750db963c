package hclconfig

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/zsm-dev/zsm/internal/config"
)

// maxUnixPath is the room in sockaddr_un.sun_path, less the NUL.
const maxUnixPath = 107

// ParseAddress reads an address as the configuration writes them (listen,
// status.listen): "HOST:PORT", "[IPv6]:PORT", ":PORT" or "unix:PATH".
func ParseAddress(s string) (config.Address, error) { return parseAddress(s) }

// parseAddress reads a listen address: "HOST:PORT" with a literal IPv4 or
// bracketed IPv6 host, ":PORT" for every interface, or "unix:PATH".
func parseAddress(s string) (config.Address, error) {
	if p, ok := strings.CutPrefix(s, "unix:"); ok {
		switch {
		case p == "":
			return config.Address{}, fmt.Errorf("%q: the unix socket path is empty", s)
		case strings.ContainsAny(p, "\x00\n"):
			return config.Address{}, fmt.Errorf("%q: a socket path cannot contain newlines or NUL bytes", s)
		case strings.HasPrefix(p, "@"):
			return config.Address{}, fmt.Errorf("%q: abstract sockets are not supported; use a path", s)
		case strings.HasPrefix(p, "/") && len(p) > maxUnixPath:
			return config.Address{}, fmt.Errorf("%q: a socket path can be at most %d bytes", s, maxUnixPath)
		}
		return config.Address{Net: config.NetUnix, Path: p}, nil
	}
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return config.Address{}, fmt.Errorf("%q: want HOST:PORT, [IPv6]:PORT, :PORT or unix:PATH", s)
	}
	host, portStr := s[:i], s[i+1:]
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 1 || port > 65535 {
		return config.Address{}, fmt.Errorf("%q: the port must be a number from 1 to 65535", s)
	}
	if host == "" {
		return config.Address{Net: config.NetTCP, Port: port}, nil
	}
	bracketed := strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]")
	if bracketed {
		host = host[1 : len(host)-1]
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || ip.Zone() != "" {
		return config.Address{}, fmt.Errorf("%q: the host must be a literal IP address (systemd does not resolve names)", s)
	}
	if ip.Is6() && !ip.Is4In6() && !bracketed {
		return config.Address{}, fmt.Errorf("%q: write an IPv6 host in brackets, as in [::1]:8080", s)
	}
	return config.Address{Net: config.NetTCP, Host: ip.String(), Port: port}, nil
}

// conflict reports whether two addresses cannot both be bound: the same
// socket path, or the same port where one host is a wildcard or both hosts
// are equal.
func conflict(a, b config.Address) bool {
	if a.Net != b.Net {
		return false
	}
	if a.Net == config.NetUnix {
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

// maxPorts bounds a backend's instance count.
const maxPorts = 256

// parsePorts reads "9001", "9001-9004" or "9001,9003,9010-9012".
func parsePorts(s string) ([]int, error) {
	var ports []int
	seen := map[int]bool{}
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		first, err1 := strconv.Atoi(strings.TrimSpace(lo))
		last, err2 := first, error(nil)
		if isRange {
			last, err2 = strconv.Atoi(strings.TrimSpace(hi))
		}
		if err1 != nil || err2 != nil || first < 1 || last > 65535 || first > last {
			return nil, fmt.Errorf("ports = %q: want ports from 1 to 65535, as in \"9001-9004\" or \"9001,9003\"", s)
		}
		for p := first; p <= last; p++ {
			if seen[p] {
				return nil, fmt.Errorf("ports = %q: port %d is listed twice", s, p)
			}
			if len(ports) == maxPorts {
				return nil, fmt.Errorf("ports = %q: at most %d backend instances", s, maxPorts)
			}
			seen[p] = true
			ports = append(ports, p)
		}
	}
	return ports, nil
}
