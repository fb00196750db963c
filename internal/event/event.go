package event

import (
	"log/slog"
	"time"
)

// Kind says what happened. Every kind has a stable name ([Kind.String]),
// which the journal carries as ZSM_EVENT= with a MESSAGE_ID of its own.
type Kind uint8

// The kinds of events.
const (
	Notice          Kind = iota // anything else worth a line
	BrokerReady                 // the broker serves its sockets
	FirstConnection             // the first connection of a cold site: the pool starts
	WorkerStarted               // a worker process was started
	WorkerReady                 // a worker said it is ready (or showed it)
	WorkerExited                // a worker exited as the broker asked
	WorkerCrashed               // a worker exited when the broker did not ask it to
	StartFailed                 // a worker could not start, died before ready, or was not ready in time
	WorkerStopping              // a worker was asked to finish what it holds and exit
	WorkerKilled                // SIGKILL after the stop timeout
	ProtocolError               // a worker broke the worker protocol
	Refused                     // an accepted connection got the explicit failure
	BreakerOpen                 // the app keeps failing: connections fail at once
	BreakerClosed               // the app works again
	Reloading                   // a reload began
	Reloaded                    // a reload finished
	ReloadFailed                // a reload failed: the running generation stays
	Recycling                   // a worker is being replaced (max_requests, max_memory, ...)
	Idle                        // the site scales to zero
	Stopping                    // the broker stops
	Stored                      // accepted connections kept for the next broker
	AcceptFailed                // accept(2) failed on a listening socket
	WorkerStuck                 // a worker stopped taking the connections it is handed
	SlowRequest                 // a request ran longer than slow_log
	RequestTimeout              // a request ran longer than timeouts.request: its worker is replaced

	numKinds
)

var names = [numKinds]string{
	Notice:          "notice",
	BrokerReady:     "broker-ready",
	FirstConnection: "first-connection",
	WorkerStarted:   "worker-started",
	WorkerReady:     "worker-ready",
	WorkerExited:    "worker-exited",
	WorkerCrashed:   "worker-crashed",
	StartFailed:     "start-failed",
	WorkerStopping:  "worker-stopping",
	WorkerKilled:    "worker-killed",
	ProtocolError:   "protocol-error",
	Refused:         "connection-refused",
	BreakerOpen:     "breaker-open",
	BreakerClosed:   "breaker-closed",
	Reloading:       "reloading",
	Reloaded:        "reloaded",
	ReloadFailed:    "reload-failed",
	Recycling:       "recycling",
	Idle:            "idle",
	Stopping:        "stopping",
	Stored:          "connections-stored",
	AcceptFailed:    "accept-failed",
	WorkerStuck:     "worker-stuck",
	SlowRequest:     "slow-request",
	RequestTimeout:  "request-timeout",
}

// String is the kind's stable name, e.g. "worker-crashed".
func (k Kind) String() string {
	if k < numKinds {
		return names[k]
	}
	return "unknown"
}

// Kinds lists every kind, for sinks that map them (MESSAGE_IDs).
func Kinds() []Kind {
	ks := make([]Kind, numKinds)
	for i := range ks {
		ks[i] = Kind(i)
	}
	return ks
}

// Event is one thing that happened to a site. Fields that do not apply are
// zero.
type Event struct {
	Time    time.Time
	Kind    Kind
	Level   slog.Level // Info, Warn or Error
	Site    string
	Message string // for people: "worker exited unexpectedly"

	Pid        int    // the worker's process id
	Worker     int    // the worker's number in its broker (1, 2, ...)
	Generation int    // the worker's generation (bumped by every reload)
	Status     string // how a worker exited: "exited with status 1", "killed by SIGKILL"
	Reason     string // why the broker did it
	Err        string // what failed

	// Attrs are further details: "listener", "served", "slots", ...
	Attrs []slog.Attr
}

// Sink takes events. Event must return at once: a sink that may block
// goes behind a Queue.
type Sink interface {
	Event(Event)
}

// Func adapts a function to a Sink.
type Func func(Event)

// Event calls f.
func (f Func) Event(e Event) { f(e) }

// Discard drops every event.
var Discard Sink = Func(func(Event) {})

// Tee sends each event to every sink, in order; nil sinks are left out.
func Tee(sinks ...Sink) Sink {
	var ss []Sink
	for _, s := range sinks {
		if s != nil {
			ss = append(ss, s)
		}
	}
	switch len(ss) {
	case 0:
		return Discard
	case 1:
		return ss[0]
	}
	return tee(ss)
}

type tee []Sink

func (t tee) Event(e Event) {
	for _, s := range t {
		s.Event(e)
	}
}
