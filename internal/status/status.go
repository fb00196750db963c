package status

import "math"

// Site is one site's state.
type Site struct {
	Site       string
	Mode       string // handoff, listen or proxy
	State      string // cold, starting, running, failing, stopping
	Generation uint32 // bumped by every reload
	Workers    []Worker
	Accepted   uint64 // connections the broker accepted
	Served     uint64 // connections workers finished
	// Requests is how many requests workers reported finished, and
	// RequestsPerSec how many a second over the last 10 s; both 0 when no
	// worker reports requests (PROTOCOL.md: REQUESTS).
	Requests       uint64
	RequestsPerSec float64
	Active         uint32 // connections held by workers now
	Queued         uint32 // connections waiting for a worker
	Shed           uint64 // connections refused: queue full, no worker, breaker open
	Failed         uint64 // connections lost with a worker that died holding them
	Restarts       uint64 // workers that exited unexpectedly
	Breaker        string // closed, open, half-open
	LastError      string
	// Version is the zsm version of the site's broker, as `zsm
	// --version` prints it.
	Version string
	// LogDropped counts the broker's events that a log, journal or bus
	// sink could not take in time and dropped, rather than stall serving.
	LogDropped uint64
	// Events are the site's last events, oldest first.
	Events []Event
	// Listen lists the addresses the site's socket unit listens on, as
	// systemd's user manager says them ("127.0.0.1:8080",
	// "/run/user/1000/blog.sock"). `zsm status` fills it in from systemd,
	// for running and idle sites alike; a broker leaves it empty, and it
	// is not a property of dev.zsm.Site1.
	Listen []string `json:",omitempty"`
	// Listeners are the sockets the broker listens on, with their kernel
	// accept queues; left out without a broker.
	Listeners []Listener `json:",omitempty"`
	// QueueWait is how long connections waited in the broker: from accept
	// to being given to a worker (handoff, proxy). HandoffLatency is from
	// accept until the connection reached its worker: its fd sent on the
	// worker's channel (handoff) or its backend connection up (proxy).
	// Both are left out in listen mode (workers accept from the kernel
	// queue) and without a broker.
	QueueWait      Histogram `json:",omitzero"`
	HandoffLatency Histogram `json:",omitzero"`
}

// Listener is one listening socket of a site and its accept queue in the
// kernel: connections that reached the socket and that nobody accepted
// yet.
type Listener struct {
	Addr    string // as the configuration writes it: "127.0.0.1:8080", "unix:blog.sock"
	Queue   uint32 // connections waiting to be accepted
	Backlog uint32 // the most that may wait (listen(2)); 0: the queue is not known
}

// Histogram counts durations in fixed buckets, the way Prometheus'
// histograms do, but per bucket rather than cumulatively.
type Histogram struct {
	Bounds []float64 // upper bounds of the buckets, in seconds, ascending
	// Counts has one more element than Bounds: Counts[i] counts the
	// durations d with Bounds[i-1] < d <= Bounds[i], and the last one
	// those above every bound.
	Counts []uint64
	Sum    float64 // of every duration counted, in seconds
}

// Count is how many durations h counted.
func (h Histogram) Count() uint64 {
	var n uint64
	for _, c := range h.Counts {
		n += c
	}
	return n
}

// States of a site whose broker is not running, which `zsm status` learns
// from the site's socket unit (zsm@SITE.socket) rather than from a broker.
// A broker's own states are cold, starting, running, failing and stopping.
const (
	// StateIdle: systemd listens on the site's sockets and no broker runs;
	// the next connection starts one.
	StateIdle = "idle"
	// StateSocketFailed: systemd could not set up the site's sockets (an
	// address in use, a bad path, ...): nothing listens. LastError says
	// why.
	StateSocketFailed = "socket-failed"
	// StateSocketInactive: the socket unit is enabled but not started
	// (stopped by hand, or not started since it was enabled): nothing
	// listens.
	StateSocketInactive = "socket-inactive"
)

// Brokerless reports whether s describes a site from its socket unit
// alone, with no broker running: one of StateIdle, StateSocketFailed and
// StateSocketInactive. Its counters and workers are then zero.
func (s Site) Brokerless() bool {
	switch s.State {
	case StateIdle, StateSocketFailed, StateSocketInactive:
		return true
	}
	return false
}

// Event is one thing that happened to a site, as its log says it.
type Event struct {
	Time    uint64 // Unix microseconds
	Kind    string // worker-started, worker-crashed, ... (the journal's ZSM_EVENT)
	Level   string // INFO, WARN or ERROR
	Message string // what happened, with its fields: "worker exited pid=42 status=..."
}

// Worker is one worker of a site.
type Worker struct {
	Pid     uint32
	State   string // starting, ready, draining
	Served  uint64 // connections it finished
	Started uint64 // start time, Unix microseconds
	RSS     uint64 // resident memory, bytes (0: unknown)
	// Held is how many connections it holds now (handoff, proxy).
	Held uint32
	// Busy is how many of them are in a request now, as the worker
	// reports it (REQUESTS and ACTIVE, PROTOCOL.md), else Held.
	Busy uint32
	// Requests is how many requests it finished, as it reports them; 0
	// when it reports none (its connections are then all there is).
	Requests uint64
}

// Bound returns the upper bound of the bucket where the q-th quantile of
// h falls (0 < q <= 1): at least q of the durations h counted took at most
// that long. It is +Inf when they lie above every bound, and ok is false
// when h counted nothing.
func (h Histogram) Bound(q float64) (bound float64, ok bool) {
	n := h.Count()
	if n == 0 || len(h.Counts) != len(h.Bounds)+1 {
		return 0, false
	}
	want := uint64(math.Ceil(q * float64(n)))
	var seen uint64
	for i, b := range h.Bounds {
		if seen += h.Counts[i]; seen >= want {
			return b, true
		}
	}
	return math.Inf(1), true
}

// P99 is where the 99th percentile of one of a site's latency histograms
// falls, for the status surfaces to say.
type P99 struct {
	What  string  // "queue wait" or "handoff"
	Bound float64 // seconds: at most this long, or, when Above, longer
	Above bool    // above every bound of the histogram: Bound is its last
}

// P99s returns the p99 of s's QueueWait and HandoffLatency, those that
// counted something, in that order.
func (s Site) P99s() []P99 {
	var out []P99
	for _, l := range []struct {
		what string
		h    Histogram
	}{{"queue wait", s.QueueWait}, {"handoff", s.HandoffLatency}} {
		b, ok := l.h.Bound(0.99)
		switch {
		case !ok:
		case math.IsInf(b, 1):
			out = append(out, P99{What: l.what, Bound: l.h.Bounds[len(l.h.Bounds)-1], Above: true})
		default:
			out = append(out, P99{What: l.what, Bound: b})
		}
	}
	return out
}
