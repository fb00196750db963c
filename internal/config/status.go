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
// (StatusAllowed). Fields are named as in Validate's Problems.
func (s *Site) Warnings() Problems {
	var ps Problems
	if s.Status != nil && !s.StatusAllowed() {
		ps.add("status.listen", "Status page not served",
			"%q is reachable from other hosts, and the status page of site %q shows its commands, pids and errors: "+
				"the broker does not serve it there. Listen on %q or a unix socket, or set public = true in the status block "+
				"to serve it on %q anyway.", s.Status, s.Name, loopback(*s.Status), s.Status)
	}
	return ps
}

// loopback returns a's port on the loopback address of a's IP version.
func loopback(a Address) string {
	if a.Host != "" && a.Host != "0.0.0.0" && !strings.Contains(a.Host, ".") {
		return fmt.Sprintf("[::1]:%d", a.Port)
	}
	return fmt.Sprintf("127.0.0.1:%d", a.Port)
}
