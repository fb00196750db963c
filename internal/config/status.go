package config

import (
	"fmt"
	"strings"
)

// StatusAllowed reports whether the broker may serve s's status page where
// status.listen says. The page shows the site's commands, pids and errors,
// so it is served on an address other hosts can reach (Address.Public)
// only when status.public says so; a unix socket or a loopback address
// needs nothing. False when s has no status page.
func (s *Site) StatusAllowed() bool {
	return s.Status != nil && (s.StatusPublic || !s.Status.Public())
}

// Warnings returns the problems of s that do not stop it from being used,
// nil when there are none: a status page the broker will not serve
// (StatusAllowed), backend ports the broker's own connections may take
// (ephemeralPorts). Fields are named as in Validate's Problems.
func (s *Site) Warnings() Problems {
	var ps Problems
	if s.Status != nil && !s.StatusAllowed() {
		ps.add("status.listen", "Status page not served",
			"%q is reachable from other hosts, and the status page of site %q shows its commands, pids and errors: "+
				"the broker does not serve it there. Listen on %q or a unix socket, or set public = true in the status block "+
				"to serve it on %q anyway.", s.Status, s.Name, loopback(*s.Status), s.Status)
	}
	if s.Backend != nil {
		if n, first := ephemeral(s.Backend.Ports); n > 0 {
			ps.add("backend.ports", "Backend ports in the ephemeral range",
				"%d of the ports (the first: %d) are in Linux's default range for the local ports of outgoing connections "+
					"(%d-%d, net.ipv4.ip_local_port_range). A connection that took one, such as the broker's own to another "+
					"instance, keeps an instance from binding it until that connection is gone and 60 s more (TIME_WAIT). "+
					"Use ports below %d.", n, first, ephemeralPorts[0], ephemeralPorts[1], ephemeralPorts[0])
		}
	}
	return ps
}

// ephemeralPorts is Linux's default net.ipv4.ip_local_port_range: the
// local ports connect(2) gives outgoing connections.
var ephemeralPorts = [2]int{32768, 60999}

// ephemeral returns how many of ports are in ephemeralPorts, and the first.
func ephemeral(ports []int) (n, first int) {
	for _, p := range ports {
		if p >= ephemeralPorts[0] && p <= ephemeralPorts[1] {
			if n == 0 {
				first = p
			}
			n++
		}
	}
	return n, first
}

// loopback returns a's port on the loopback address of a's IP version.
func loopback(a Address) string {
	if a.Host != "" && a.Host != "0.0.0.0" && !strings.Contains(a.Host, ".") {
		return fmt.Sprintf("[::1]:%d", a.Port)
	}
	return fmt.Sprintf("127.0.0.1:%d", a.Port)
}
