package config

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Mode says how the broker hands work to a site's app.
type Mode string

// The three modes of DESIGN.md.
const (
	// Handoff: the broker accepts and passes each connection's fd to an idle
	// worker over the worker protocol (activation/PROTOCOL.md).
	Handoff Mode = "handoff"
	// Listen: every worker gets the listening fds with LISTEN_FDS, as under
	// plain systemd socket activation.
	Listen Mode = "listen"
	// Proxy: the broker accepts and forwards to unmodified backends that
	// bind their own ports.
	Proxy Mode = "proxy"
)

// Protocol says what the site speaks, which decides how the broker refuses a
// connection it cannot serve.
type Protocol string

const (
	// TCP sites get their connection closed.
	TCP Protocol = "tcp"
	// HTTP sites get a "503 Service Unavailable" with a short reason.
	HTTP Protocol = "http"
)

// File is one configuration file: several sites.
type File struct {
	Path  string // absolute path of the file the sites came from
	Sites []*Site
	// Warnings are the problems the decoder found that do not stop the
	// file from being used (Site.Warnings), in the order written.
	Warnings []Warning
}

// Site returns the site called name, or nil.
func (f *File) Site(name string) *Site {
	for _, s := range f.Sites {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// Site is one site block, validated and with every default filled in.
type Site struct {
	Name        string
	Listen      []Address
	Mode        Mode
	Protocol    Protocol
	Command     []string
	Directory   string            // absolute; "~" expanded, relative to the config file
	Environment map[string]string // extra variables for the app, never nil
	Eager       bool              // start workers when the broker starts, not on the first connection
	// StopSignal (stop_signal) asks a worker to stop gracefully: gunicorn
	// and uWSGI stop gracefully on TERM, nginx on QUIT. Default "TERM".
	StopSignal Signal
	// SlowLog (slow_log), handoff mode: a request (a connection, for
	// workers that report no requests) that has run this long is logged
	// once, and the worker gets SlowLogSignal (slow_log_signal), when set,
	// to write its stacks to its own log. 0: no slow log.
	SlowLog       time.Duration
	SlowLogSignal Signal
	Pool          Pool
	Timeouts      Timeouts
	Backend       *Backend // proxy mode only, nil otherwise
	Status        *Address // the site's own status page, nil when none
	// StatusPublic (status.public) lets the broker serve the status page
	// on an address other hosts can reach (Address.Public); see
	// StatusAllowed.
	StatusPublic bool
	Limits       Limits
}

// Default returns the site every site block starts from: each key a block
// leaves out keeps the value given here (docs/config.md lists them). Name,
// Listen, Command and Directory have no default; the decoder sets Directory
// to the config file's directory. Each call returns a new Environment map.
func Default() Site {
	return Site{
		Mode:        Handoff,
		Protocol:    TCP,
		StopSignal:  "TERM",
		Environment: map[string]string{},
		Pool: Pool{
			MinIdle:  1,
			Max:      4,
			Queue:    256,
			IdleStop: 10 * time.Minute,
		},
		Timeouts: Timeouts{
			Start: 30 * time.Second, Stop: 30 * time.Second,
			Handoff: time.Second, Queue: 30 * time.Second, Connect: 5 * time.Second, FirstByte: 60 * time.Second,
			Drain: 5 * time.Second, Idle: 5 * time.Minute,
		},
	}
}

// Pool sizes a site's worker pool.
type Pool struct {
	MinIdle      int           // ready spare workers kept once started
	Max          int           // workers at most
	Queue        int           // connections waiting for a worker at most; more are shed
	MaxRequests  int           // recycle a worker after this many connections; 0 never
	MaxMemory    Size          // recycle a worker above this RSS; 0 never
	MaxAge       time.Duration // recycle a worker this old (with jitter); 0 never
	IdleStop     time.Duration // stop all workers after this long idle; 0 never
	ExitWhenIdle bool          // after IdleStop, the broker exits too (systemd restarts it)
}

// Timeouts bound how long anything may wait: a worker's start and stop,
// a connection in the broker's queue, a worker or backend that does not
// take or answer what it is given.
type Timeouts struct {
	Start time.Duration // a worker must be ready within this
	Stop  time.Duration // die_timeout: the worker is told to stop, then SIGTERM, then SIGKILL
	// Watchdog: a worker that sends no WATCHDOG=1 for this long is
	// replaced; 0 means workers are not watched.
	Watchdog time.Duration
	// Handoff: a handoff worker that leaves a connection unread on its
	// channel this long, reporting nothing, is stuck: replaced, and the
	// connection given to another.
	Handoff time.Duration
	// Queue: a connection waits at most this long in the broker for a
	// worker; then it gets the explicit failure.
	Queue time.Duration
	// Connect: proxy mode, a backend must take a connection within this.
	Connect time.Duration
	// FirstByte: proxy mode, a backend must answer what a client sent
	// within this; otherwise the client gets 504 (http) or a close.
	FirstByte time.Duration
	// Drain: proxy mode, a retiring instance is out of rotation and its
	// connections have this long to end before it gets the stop signal.
	Drain time.Duration
	// Request: handoff mode, a worker whose request (a connection, for
	// workers that report no requests) has run this long is replaced: its
	// replacement ready first, then its stop signal, then SIGKILL. 0: no
	// limit.
	Request time.Duration
	// Idle: proxy mode, a client and its backend that exchange no byte
	// for this long are both closed.
	Idle time.Duration
}

// Backend describes proxy-mode instances: each runs on a port of Ports,
// reached at Address with "{port}" replaced.
type Backend struct {
	Address string // e.g. "127.0.0.1:{port}"
	Ports   []int
	// Instances run at once; 0 means one per port. Ports beyond them
	// are spares: a reload starts each new instance on a spare port
	// before an old one stops, so that no port goes unserved.
	Instances int
	// MaxConn is how many connections one instance is given at once
	// (haproxy's maxconn); more wait in the broker's queue. 0 means the
	// instance's own listen backlog, read when it becomes ready: a burst
	// can then never overflow its accept queue.
	MaxConn int
}

// Running returns how many instances run at once.
func (b *Backend) Running() int {
	if b.Instances > 0 {
		return b.Instances
	}
	return len(b.Ports)
}

// Addr returns the backend address of the instance on port.
func (b *Backend) Addr(port int) string {
	return strings.ReplaceAll(b.Address, "{port}", strconv.Itoa(port))
}

// Limits become systemd resource-control settings of the broker's unit.
type Limits struct {
	Memory     Size // MemoryMax=; 0 none
	CPUPercent int  // CPUQuota=; 0 none
}

// Network names the kind of socket an Address is.
type Network string

const (
	NetTCP  Network = "tcp"  // IPv4 or IPv6 by the host part
	NetUnix Network = "unix" // a stream socket on the file system
)

// Address is one listen address: "127.0.0.1:8080", "[::1]:8080", ":8080"
// (every interface), or "unix:PATH" with PATH relative to $XDG_RUNTIME_DIR
// unless absolute.
type Address struct {
	Net  Network
	Host string // tcp: literal IP, or "" for every interface
	Port int    // tcp
	Path string // unix: as written
}

// String returns the address the way it is written in the config.
func (a Address) String() string {
	if a.Net == NetUnix {
		return "unix:" + a.Path
	}
	if strings.Contains(a.Host, ":") {
		return fmt.Sprintf("[%s]:%d", a.Host, a.Port)
	}
	return fmt.Sprintf("%s:%d", a.Host, a.Port)
}

// SocketPath returns a unix address's path with a relative one resolved
// against runtimeDir ($XDG_RUNTIME_DIR).
func (a Address) SocketPath(runtimeDir string) string {
	if filepath.IsAbs(a.Path) {
		return a.Path
	}
	return filepath.Join(runtimeDir, a.Path)
}

// Size is a number of bytes.
type Size int64

// Size units, binary (KiB) and decimal (KB); K, M, G, T alone are binary as
// in systemd.
var sizeUnits = map[string]int64{
	"": 1, "B": 1,
	"K": 1 << 10, "KiB": 1 << 10, "KB": 1000,
	"M": 1 << 20, "MiB": 1 << 20, "MB": 1000 * 1000,
	"G": 1 << 30, "GiB": 1 << 30, "GB": 1000 * 1000 * 1000,
	"T": 1 << 40, "TiB": 1 << 40, "TB": 1000 * 1000 * 1000 * 1000,
}

// ParseSize reads "512MiB", "1G", "1.5GiB", "4096".
func ParseSize(s string) (Size, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := t, ""
	if i >= 0 {
		num, unit = t[:i], strings.TrimSpace(t[i:])
	}
	mul, ok := sizeUnits[unit]
	if !ok || num == "" {
		return 0, fmt.Errorf("invalid size %q: want a number with a unit such as 512MiB or 1G", s)
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("invalid size %q: want a number with a unit such as 512MiB or 1G", s)
	}
	v := f * float64(mul)
	if v >= 1<<62 {
		return 0, fmt.Errorf("invalid size %q: too large", s)
	}
	return Size(v), nil
}

// String prints the size the way systemd reads it (bytes with a binary
// suffix where exact).
func (s Size) String() string {
	for _, u := range []struct {
		n   string
		mul int64
	}{{"T", 1 << 40}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}} {
		if int64(s) >= u.mul && int64(s)%u.mul == 0 {
			return strconv.FormatInt(int64(s)/u.mul, 10) + u.n
		}
	}
	return strconv.FormatInt(int64(s), 10)
}
