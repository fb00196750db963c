package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
)

// A tool is a program the bench runs but does not build.
type tool struct {
	name string // command name, or an absolute path
	pkg  string // the Debian package that has it
	why  string
}

// neededTools lists the programs opts needs.
func neededTools(o options) []tool {
	var ts []tool
	loads := o.has(scenarioThroughput) || o.has(scenarioReload) || o.has(scenarioCost)
	if o.loader == "wrk" && loads {
		ts = append(ts, tool{"wrk", "wrk", "load generator (or -loader go)"})
	}
	peers := o.has(scenarioThroughput) || o.has(scenarioCost)
	if peers && (o.wants(targetHAProxy) || o.wants(targetSplice)) {
		ts = append(ts, tool{"haproxy", "haproxy", "peer (or -peers=false)"})
	}
	if o.has(scenarioThroughput) && o.wants(targetProxyd) {
		ts = append(ts,
			tool{"systemd-socket-activate", "systemd", "runs systemd-socket-proxyd (or -peers=false)"},
			tool{proxydPath, "systemd", "peer (or -peers=false)"})
	}
	if o.has(scenarioThroughput) && o.wants(targetNginx) {
		ts = append(ts, tool{"nginx", "nginx-light", "peer (or -peers=false)"})
	}
	if o.perfDir != "" {
		ts = append(ts, tool{"perf", "linux-perf", "-perf"})
	}
	return ts
}

// checkTools finds every tool opts needs. When some are missing it names
// them with their Debian packages and fails: the bench installs nothing.
func checkTools(o options) (map[string]string, error) {
	found := map[string]string{}
	var missing []tool
	for _, t := range neededTools(o) {
		p, err := exec.LookPath(t.name)
		if err != nil {
			missing = append(missing, t)
			continue
		}
		found[t.name] = p
	}
	// Optional, for the machine description.
	for _, name := range []string{"wrk", "haproxy", "systemctl", "perf"} {
		if _, ok := found[name]; !ok {
			if p, err := exec.LookPath(name); err == nil {
				found[name] = p
			}
		}
	}
	if len(missing) == 0 {
		return found, nil
	}
	var b strings.Builder
	b.WriteString("missing programs (nothing is installed by this command):\n")
	var pkgs []string
	for _, t := range missing {
		fmt.Fprintf(&b, "  %-40s Debian package %-10s %s\n", t.name, t.pkg, t.why)
		if !slices.Contains(pkgs, t.pkg) {
			pkgs = append(pkgs, t.pkg)
		}
	}
	fmt.Fprintf(&b, "install them with:\n  apt-get install %s\n", strings.Join(pkgs, " "))
	b.WriteString("or run without them: -loader go (a built-in load generator instead of wrk), -peers=false (no haproxy, no systemd-socket-proxyd, no nginx)")
	return nil, errors.New(b.String())
}

// isRoot reports whether the bench runs as root.
func isRoot() bool { return os.Geteuid() == 0 }
