package config

import (
	"fmt"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Bounds of a site's values. They are far above what a real site needs and
// are there to stop absurd values (a typo, a misplaced digit) before the
// broker tries to honour them: a broker must not try to start a billion
// workers or wait a century for one. docs/config.md lists them by key.
const (
	// MaxWorkers bounds pool.max (and so pool.min_idle): each worker is a
	// process, and a thousand of them is already a host of its own.
	MaxWorkers = 1024
	// MaxQueue bounds pool.queue: each waiting connection holds an fd in
	// the broker, and a queue this long takes minutes to drain anyway.
	MaxQueue = 65536
	// MaxRequestsPerWorker bounds pool.max_requests; 0 (never recycle) is
	// how to say "no limit".
	MaxRequestsPerWorker = 1_000_000_000
	// MaxMemory bounds pool.max_memory and limits.memory: 1 PiB, more than
	// any single host has.
	MaxMemory Size = 1 << 50
	// MaxWorkerAge bounds pool.max_age: 365 days; 0 (never recycle) is how
	// to say "no limit".
	MaxWorkerAge = 365 * 24 * time.Hour
	// MaxIdleStop bounds pool.idle_stop: 365 days; 0 (keep the workers) is
	// how to say "never".
	MaxIdleStop = 365 * 24 * time.Hour
	// MinTimeout is the shortest timeouts.start, timeouts.stop and
	// timeouts.watchdog: below a second a loaded host misses them.
	MinTimeout = time.Second
	// MaxStartTimeout bounds timeouts.start: connections wait this long
	// for a worker, and no client waits an hour.
	MaxStartTimeout = time.Hour
	// MaxStopTimeout bounds timeouts.stop: a drain of long-lived
	// connections (downloads, websockets) may take hours, not days.
	MaxStopTimeout = 24 * time.Hour
	// MinWait and MaxWait bound timeouts.handoff, queue, connect and
	// first_byte: what a client may wait for.
	MinWait = 100 * time.Millisecond
	MaxWait = time.Hour
	// MaxWatchdog bounds timeouts.watchdog: a worker silent for an hour is
	// not being watched.
	MaxWatchdog = time.Hour
	// MaxBackends bounds the ports of backend: one instance (a process)
	// per port, so the same bound as pool.max.
	MaxBackends = MaxWorkers
	// MaxCPUPercent bounds limits.cpu: 100% per CPU for as many CPUs as
	// a distribution kernel supports (NR_CPUS=8192).
	MaxCPUPercent = 100 * 8192
)

// envName is what an environment variable may be called.
var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Validate checks every rule of s that does not span sites: its name, that
// it listens somewhere, that its command, mode, protocol, directory and
// environment can be used, the pool, timeouts and limits within their
// bounds and relations, the backend present exactly in proxy mode, and the
// status page apart from the listen addresses. It returns nil or Problems
// listing every broken rule; s is not changed. Validate looks at no file:
// whether the directory exists or the program can be found is for the
// broker to learn when it starts a worker.
func (s *Site) Validate() error {
	var ps Problems
	if p, ok := checkName(s.Name); !ok {
		ps = append(ps, p)
	}
	ps.listen(s)
	ps.command(s.Command)
	ps.kind(s.Mode, s.Protocol)
	if _, err := ParseSignal(string(s.StopSignal)); err != nil {
		ps.add("stop_signal", "Invalid signal", "%s.", err)
	}
	ps.requests(s)
	ps.directory(s.Directory)
	ps.environment(s.Environment)
	ps.pool(&s.Pool)
	ps.timeouts(&s.Timeouts)
	ps.backend(s)
	ps.status(s)
	ps.limits(&s.Limits)
	return ps.err()
}

func (ps *Problems) listen(s *Site) {
	if len(s.Listen) == 0 {
		ps.add("listen", "No listen address", "Site %q needs at least one address in listen.", s.Name)
	}
	var listed AddressSet
	for i, a := range s.Listen {
		if err := a.Validate(); err != nil {
			ps.add(fmt.Sprintf("listen[%d]", i), "Invalid address", "%s", err)
			continue
		}
		if listed.Conflict(a) >= 0 {
			ps.add(fmt.Sprintf("listen[%d]", i), "Address already in use", "%s is listed twice in site %q.", a, s.Name)
		}
		listed.Add(a)
	}
}

func (ps *Problems) command(cmd []string) {
	for i, arg := range cmd {
		if strings.ContainsAny(arg, "\x00\n") {
			ps.add(fmt.Sprintf("command[%d]", i), "Invalid command", "Command arguments cannot contain newlines or NUL bytes.")
		}
	}
	if len(cmd) == 0 || cmd[0] == "" {
		ps.add("command", "Invalid command", "The command must name a program to run.")
	}
}

// kind checks the mode and the protocol.
func (ps *Problems) kind(m Mode, p Protocol) {
	if !m.valid() {
		ps.add("mode", "Invalid mode", "Mode %q is not one of \"handoff\", \"listen\" or \"proxy\".", m)
	}
	switch p {
	case TCP, HTTP:
	default:
		ps.add("protocol", "Invalid protocol", "Protocol %q is not one of \"tcp\" or \"http\".", p)
	}
}

func (m Mode) valid() bool {
	return m == Handoff || m == Listen || m == Proxy
}

func (ps *Problems) directory(dir string) {
	switch {
	case strings.ContainsAny(dir, "\x00\n"):
		ps.add("directory", "Invalid directory", "A directory cannot contain newlines or NUL bytes.")
	case !filepath.IsAbs(dir):
		ps.add("directory", "Invalid directory", "The directory %q is not an absolute path.", dir)
	}
}

func (ps *Problems) environment(env map[string]string) {
	for _, k := range slices.Sorted(maps.Keys(env)) {
		field := fmt.Sprintf("environment[%q]", k)
		if !envName.MatchString(k) {
			ps.add(field, "Invalid environment", "%q is not a valid environment variable name.", k)
		}
		if strings.ContainsRune(env[k], 0) {
			ps.add(field, "Invalid environment", "Environment values cannot contain NUL bytes.")
		}
	}
}

// pool checks each value of p against its bounds, and the relations
// between values that are each within theirs.
func (ps *Problems) pool(p *Pool) {
	minOK := ps.intIn("pool.min_idle", p.MinIdle, 0, MaxWorkers)
	maxOK := ps.intIn("pool.max", p.Max, 1, MaxWorkers)
	ps.intIn("pool.queue", p.Queue, 0, MaxQueue)
	ps.intIn("pool.max_requests", p.MaxRequests, 0, MaxRequestsPerWorker)
	ps.sizeIn("pool.max_memory", p.MaxMemory, MaxMemory)
	ps.durationIn("pool.max_age", p.MaxAge, 0, MaxWorkerAge)
	idleOK := ps.durationIn("pool.idle_stop", p.IdleStop, 0, MaxIdleStop)
	if minOK && maxOK && p.MinIdle > p.Max {
		ps.add("pool.min_idle", "Invalid pool", "min_idle (%d) cannot be larger than max (%d).", p.MinIdle, p.Max)
	}
	if idleOK && p.ExitWhenIdle && p.IdleStop == 0 {
		ps.add("pool.exit_when_idle", "Invalid pool", "exit_when_idle needs idle_stop to be set.")
	}
}

func (ps *Problems) timeouts(t *Timeouts) {
	ps.durationIn("timeouts.start", t.Start, MinTimeout, MaxStartTimeout)
	ps.durationIn("timeouts.stop", t.Stop, MinTimeout, MaxStopTimeout)
	if t.Watchdog != 0 { // 0: workers are not watched
		ps.durationIn("timeouts.watchdog", t.Watchdog, MinTimeout, MaxWatchdog)
	}
	ps.durationIn("timeouts.handoff", t.Handoff, MinWait, MaxWait)
	ps.durationIn("timeouts.queue", t.Queue, MinWait, MaxWait)
	ps.durationIn("timeouts.connect", t.Connect, MinWait, MaxWait)
	ps.durationIn("timeouts.first_byte", t.FirstByte, MinWait, MaxWait)
	ps.durationIn("timeouts.drain", t.Drain, 0, MaxStopTimeout)
	ps.durationIn("timeouts.idle", t.Idle, MinTimeout, MaxStopTimeout)
}

// requests checks the keys that watch requests: handoff mode only (the
// broker sees no connection in listen mode; proxy mode has
// timeouts.first_byte), within their bounds, and a slow-log signal that
// is not the stop signal.
func (ps *Problems) requests(s *Site) {
	handoffOnly := func(key string) {
		if s.Mode.valid() && s.Mode != Handoff {
			ps.add(key, "Handoff mode only", "%s applies to mode = \"handoff\", where the broker sees each connection; site %q uses mode %q.",
				key, s.Name, s.Mode)
		}
	}
	if s.Timeouts.Request != 0 {
		ps.durationIn("timeouts.request", s.Timeouts.Request, MinTimeout, MaxStopTimeout)
		handoffOnly("timeouts.request")
	}
	if s.SlowLog != 0 {
		ps.durationIn("slow_log", s.SlowLog, MinWait, MaxStopTimeout)
		handoffOnly("slow_log")
	}
	if s.SlowLogSignal == "" {
		return
	}
	sig, err := ParseSignal(string(s.SlowLogSignal))
	stop, _ := ParseSignal(string(s.StopSignal))
	switch {
	case err != nil:
		ps.add("slow_log_signal", "Invalid signal", "%s.", err)
	case s.SlowLog == 0:
		ps.add("slow_log_signal", "No slow log", "slow_log_signal is sent with a slow_log entry; set slow_log too.")
	case sig == stop:
		ps.add("slow_log_signal", "Invalid signal", "slow_log_signal cannot be the stop signal (%s).", stop)
	case sig == "KILL":
		ps.add("slow_log_signal", "Invalid signal", "SIGKILL cannot be caught: it would end the worker and every request it holds.")
	}
}

// backend checks that a backend is there exactly in proxy mode, and what
// it holds.
func (ps *Problems) backend(s *Site) {
	switch {
	case s.Mode == Proxy && s.Backend == nil:
		ps.add("mode", "Missing backend", "Site %q uses mode = \"proxy\" and needs a backend block with address and ports.", s.Name)
	case s.Backend != nil && s.Mode.valid() && s.Mode != Proxy:
		ps.add("backend", "Backend outside proxy mode",
			"A backend block only applies to mode = \"proxy\"; site %q uses mode %q.", s.Name, s.Mode)
	}
	if s.Backend != nil && ps.backendPorts(s.Backend.Ports) {
		ps.backendAddress(s.Backend)
		if ps.intIn("backend.instances", s.Backend.Instances, 0, MaxBackends) && s.Backend.Instances > len(s.Backend.Ports) {
			ps.add("backend.instances", "Invalid backend", "instances (%d) cannot be more than the ports (%d): one instance per port.",
				s.Backend.Instances, len(s.Backend.Ports))
		}
		ps.intIn("backend.maxconn", s.Backend.MaxConn, 0, MaxQueue)
	}
}

// backendPorts checks the ports of a backend and reports whether they are
// fit to check the address with.
func (ps *Problems) backendPorts(ports []int) bool {
	switch {
	case len(ports) == 0:
		ps.add("backend.ports", "Invalid ports", "A backend needs at least one port, as in \"9001-9004\".")
		return false
	case len(ports) > MaxBackends:
		ps.add("backend.ports", "Invalid ports", "A backend has at most %d instances, one per port.", MaxBackends)
		return false
	}
	seen := make(map[int]bool, len(ports))
	for _, p := range ports {
		switch {
		case p < 1 || p > 65535:
			ps.add("backend.ports", "Invalid ports", "Port %d is not a port from 1 to 65535.", p)
			return false
		case seen[p]:
			ps.add("backend.ports", "Invalid ports", "Port %d is listed twice.", p)
			return false
		}
		seen[p] = true
	}
	return true
}

// backendAddress checks that b.Address, with each port put in, is an
// address to connect to.
func (ps *Problems) backendAddress(b *Backend) {
	if b.Address == "" {
		ps.add("backend.address", "Invalid backend address", "The backend needs an address, as in \"127.0.0.1:{port}\".")
		return
	}
	if len(b.Ports) > 1 && !strings.Contains(b.Address, "{port}") {
		ps.add("backend.address", "Invalid backend address",
			"With several ports the address must contain {port}, as in \"127.0.0.1:{port}\".")
	}
	for _, port := range b.Ports {
		addr, err := ParseAddress(b.Addr(port))
		if err == nil && addr.Net == NetTCP && addr.Host == "" {
			err = fmt.Errorf("%q needs a host to connect to", b.Addr(port))
		}
		if err != nil {
			ps.add("backend.address", "Invalid backend address", "%s", err)
			return
		}
	}
}

func (ps *Problems) status(s *Site) {
	if s.Status == nil {
		return
	}
	if err := s.Status.Validate(); err != nil {
		ps.add("status.listen", "Invalid address", "%s", err)
		return
	}
	if slices.ContainsFunc(s.Listen, s.Status.Conflicts) {
		ps.add("status.listen", "Address already in use",
			"The status page of site %q cannot share %s with its listen addresses.", s.Name, *s.Status)
	}
}

func (ps *Problems) limits(l *Limits) {
	ps.sizeIn("limits.memory", l.Memory, MaxMemory)
	switch {
	case l.CPUPercent < 0:
		ps.add("limits.cpu", "Invalid CPU limit", "cpu cannot be negative.")
	case l.CPUPercent > MaxCPUPercent:
		ps.add("limits.cpu", "Invalid CPU limit", "cpu must be at most %d%%.", MaxCPUPercent)
	}
}

// intIn checks that n, the value of field, is from lo to hi, and reports
// whether it is.
func (ps *Problems) intIn(field string, n, lo, hi int) bool {
	switch {
	case n < lo:
		ps.add(field, "Invalid value", "%s must be at least %d.", key(field), lo)
	case n > hi:
		ps.add(field, "Invalid value", "%s must be at most %d.", key(field), hi)
	default:
		return true
	}
	return false
}

// durationIn checks that d, the value of field, is from lo to hi, and
// reports whether it is.
func (ps *Problems) durationIn(field string, d, lo, hi time.Duration) bool {
	switch {
	case d < lo:
		ps.add(field, "Invalid duration", "%s must be at least %s.", key(field), formatDuration(lo))
	case d > hi:
		ps.add(field, "Invalid duration", "%s must be at most %s.", key(field), formatDuration(hi))
	default:
		return true
	}
	return false
}

// sizeIn checks that n, the value of field, is from 0 to hi.
func (ps *Problems) sizeIn(field string, n, hi Size) {
	switch {
	case n < 0:
		ps.add(field, "Invalid size", "%s cannot be negative.", key(field))
	case n > hi:
		ps.add(field, "Invalid size", "%s must be at most %s.", key(field), hi)
	}
}

// key returns the last key of a field: "max" for "pool.max".
func key(field string) string {
	return field[strings.LastIndexByte(field, '.')+1:]
}

// formatDuration writes d the way a configuration would: "1s", "10m",
// "8760h".
func formatDuration(d time.Duration) string {
	switch {
	case d != 0 && d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d != 0 && d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return d.String()
}

// Validate checks every site of f with Site.Validate, and the rules that
// span sites: no two sites have the same name, and no two sites claim the
// same address, be it a listen address or a status page; an address is
// reported with the first site that claimed it before. It returns nil or
// Problems; the Field of each is prefixed with the site's index in f.Sites,
// as in "sites[1].pool.max".
func (f *File) Validate() error {
	var ps Problems
	var claimed []claim
	var set AddressSet // the addresses of claimed, in order
	seen := map[string]bool{}
	for i, s := range f.Sites {
		prefix := fmt.Sprintf("sites[%d]", i)
		if s == nil {
			ps.add(prefix, "Missing site", "Site %d of the file is nil.", i)
			continue
		}
		if own, ok := s.Validate().(Problems); ok {
			for _, p := range own {
				p.Field = prefix + "." + p.Field
				ps = append(ps, p)
			}
		}
		if seen[s.Name] {
			ps.add(prefix+".name", "Duplicate site", "Site %q is defined twice.", s.Name)
		}
		seen[s.Name] = true
		mine := s.claims(prefix + ".")
		for _, m := range mine {
			if first := set.Conflict(m.addr); first >= 0 {
				ps.add(m.field, "Address already in use",
					"Site %q listens on %s, which site %q already uses.", s.Name, m.addr, claimed[first].site)
			}
		}
		for _, m := range mine {
			set.Add(m.addr)
		}
		claimed = append(claimed, mine...)
	}
	return ps.err()
}

// claim is an address a site binds, for the checks between sites.
type claim struct {
	addr  Address
	site  string
	field string // where the site names it, after the prefix given to claims
}

// claims returns the addresses s binds: its listen addresses and its status
// page.
func (s *Site) claims(prefix string) []claim {
	var cs []claim
	for i, a := range s.Listen {
		cs = append(cs, claim{a, s.Name, fmt.Sprintf("%slisten[%d]", prefix, i)})
	}
	if s.Status != nil {
		cs = append(cs, claim{*s.Status, s.Name, prefix + "status.listen"})
	}
	return cs
}
