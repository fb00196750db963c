package activation

import (
	"math"
	"strconv"
	"time"
)

// Keys of the version 1 protocol.
const (
	KeyConn     = "CONN"
	KeyID       = "ID"
	KeyListener = "LISTENER"
	KeyPeer     = "PEER"
	KeyReady    = "READY"
	KeySlots    = "SLOTS"
	KeyDone     = "DONE"
	KeyStatus   = "STATUS"
	KeyStopping = "STOPPING"
	KeyWatchdog = "WATCHDOG"
	// Optional reports of requests (section 4, "Requests"), which brokers
	// that do not know them ignore.
	KeyRequests   = "REQUESTS"
	KeyActive     = "ACTIVE"
	KeyActiveID   = "ACTIVE_ID"
	KeyActiveUsec = "ACTIVE_USEC"
)

// MaxRequests is the most one REQUESTS report may count.
const MaxRequests = 1 << 32

// Handoff is the broker's CONN=1 message: the datagram that carries one
// accepted connection to a worker (PROTOCOL.md, section 3). The connection's
// descriptor travels beside it, in SCM_RIGHTS.
type Handoff struct {
	// ID identifies the connection on its channel; at least 1.
	ID uint64
	// Listener names the listening socket that accepted the connection.
	Listener string
	// Peer is the client's address as text; may be empty.
	Peer string
}

// Message returns h as a Message.
func (h Handoff) Message() Message {
	return Message{
		{KeyConn, "1"},
		{KeyID, strconv.FormatUint(h.ID, 10)},
		{KeyListener, h.Listener},
		{KeyPeer, h.Peer},
	}
}

// IsHandoff reports whether m is a CONN message (CONN present), which
// [ParseHandoff] then validates. A worker ignores other broker messages.
func IsHandoff(m Message) bool {
	_, ok := m.Get(KeyConn)
	return ok
}

// ParseHandoff validates a CONN message: CONN=1, a valid ID, LISTENER and
// PEER present. Unknown keys are ignored. Errors wrap [ErrProtocol].
func ParseHandoff(m Message) (Handoff, error) {
	var h Handoff
	if v, ok := m.Get(KeyConn); !ok || v != "1" {
		return h, protocolError("CONN=%q: want CONN=1", truncate([]byte(v)))
	}
	v, ok := m.Get(KeyID)
	if !ok {
		return h, protocolError("CONN without ID")
	}
	id, err := parseUint(KeyID, v, 1, math.MaxUint64)
	if err != nil {
		return h, err
	}
	h.ID = id
	if h.Listener, ok = m.Get(KeyListener); !ok {
		return h, protocolError("CONN without LISTENER")
	}
	if h.Peer, ok = m.Get(KeyPeer); !ok {
		return h, protocolError("CONN without PEER")
	}
	return h, nil
}

// Report is one worker → broker datagram (PROTOCOL.md, section 4). The
// zero Report is empty; [Report.Message] of an empty Report is not a valid
// datagram. The broker applies the parts in field order.
type Report struct {
	// Ready is READY=1; Slots is SLOTS (0 in a parsed Report means
	// "not given", which the protocol reads as 1).
	Ready bool
	Slots int
	// Done is DONE=1; ID is the optional connection id (0: not given).
	Done bool
	ID   uint64
	// HasStatus is set when STATUS is present; Status may then be empty.
	HasStatus bool
	Status    string
	Watchdog  bool
	Stopping  bool
	// Requests is REQUESTS: requests finished since the last report of
	// them (0: none reported).
	Requests uint64
	// HasActive is set when ACTIVE is present: Active connections are in
	// a request now. When Active > 0, ActiveID names the connection whose
	// request began first and ActiveFor says how long ago (ACTIVE_ID,
	// ACTIVE_USEC; both optional).
	HasActive bool
	Active    int
	ActiveID  uint64
	ActiveFor time.Duration
}

// Message returns r as a Message. Slots and ID are written only when
// non-zero and only with Ready and Done respectively.
func (r Report) Message() Message {
	var m Message
	if r.Ready {
		m = append(m, Field{KeyReady, "1"})
		if r.Slots != 0 {
			m = append(m, Field{KeySlots, strconv.Itoa(r.Slots)})
		}
	}
	if r.Done {
		m = append(m, Field{KeyDone, "1"})
		if r.ID != 0 {
			m = append(m, Field{KeyID, strconv.FormatUint(r.ID, 10)})
		}
	}
	if r.HasStatus {
		m = append(m, Field{KeyStatus, r.Status})
	}
	if r.Watchdog {
		m = append(m, Field{KeyWatchdog, "1"})
	}
	if r.Stopping {
		m = append(m, Field{KeyStopping, "1"})
	}
	if r.Requests != 0 {
		m = append(m, Field{KeyRequests, strconv.FormatUint(r.Requests, 10)})
	}
	if r.HasActive {
		m = append(m, Field{KeyActive, strconv.Itoa(r.Active)})
		if r.Active > 0 && r.ActiveID != 0 {
			m = append(m, Field{KeyActiveID, strconv.FormatUint(r.ActiveID, 10)},
				Field{KeyActiveUsec, strconv.FormatInt(r.ActiveFor.Microseconds(), 10)})
		}
	}
	return m
}

// ParseReport validates a worker datagram's known keys: READY, DONE,
// WATCHDOG and STOPPING must be "1"; SLOTS (1..[MaxSlots]) only with
// READY=1; ID only with DONE=1. Unknown keys are ignored. Whether the report
// fits the worker's state (a second READY, a DONE for a connection it does
// not hold) is for the broker to check. Errors wrap [ErrProtocol].
func ParseReport(m Message) (Report, error) {
	var r Report
	var err error
	flag := func(key string) (bool, error) {
		v, ok := m.Get(key)
		if ok && v != "1" {
			return false, protocolError("%s=%q: want %s=1", key, truncate([]byte(v)), key)
		}
		return ok, nil
	}
	if r.Ready, err = flag(KeyReady); err != nil {
		return Report{}, err
	}
	if r.Done, err = flag(KeyDone); err != nil {
		return Report{}, err
	}
	if r.Watchdog, err = flag(KeyWatchdog); err != nil {
		return Report{}, err
	}
	if r.Stopping, err = flag(KeyStopping); err != nil {
		return Report{}, err
	}
	if v, ok := m.Get(KeySlots); ok {
		if !r.Ready {
			return Report{}, protocolError("SLOTS without READY=1")
		}
		n, err := parseUint(KeySlots, v, 1, MaxSlots)
		if err != nil {
			return Report{}, err
		}
		r.Slots = int(n)
	}
	if v, ok := m.Get(KeyID); ok {
		if !r.Done {
			return Report{}, protocolError("ID without DONE=1")
		}
		if r.ID, err = parseUint(KeyID, v, 1, math.MaxUint64); err != nil {
			return Report{}, err
		}
	}
	r.Status, r.HasStatus = m.Get(KeyStatus)
	if err := parseRequests(m, &r); err != nil {
		return Report{}, err
	}
	return r, nil
}

// parseRequests reads the optional REQUESTS, ACTIVE, ACTIVE_ID and
// ACTIVE_USEC: REQUESTS from 1 to MaxRequests, ACTIVE from 0 to MaxSlots,
// ACTIVE_ID and ACTIVE_USEC together, and only with ACTIVE > 0.
func parseRequests(m Message, r *Report) error {
	if v, ok := m.Get(KeyRequests); ok {
		n, err := parseUint(KeyRequests, v, 1, MaxRequests)
		if err != nil {
			return err
		}
		r.Requests = n
	}
	v, ok := m.Get(KeyActive)
	if ok {
		n, err := parseUint(KeyActive, v, 0, MaxSlots)
		if err != nil {
			return err
		}
		r.HasActive, r.Active = true, int(n)
	}
	id, hasID := m.Get(KeyActiveID)
	usec, hasUsec := m.Get(KeyActiveUsec)
	switch {
	case !hasID && !hasUsec:
		return nil
	case hasID != hasUsec:
		return protocolError("ACTIVE_ID and ACTIVE_USEC go together")
	case r.Active == 0:
		return protocolError("ACTIVE_ID without ACTIVE of at least 1")
	}
	var err error
	if r.ActiveID, err = parseUint(KeyActiveID, id, 1, math.MaxUint64); err != nil {
		return err
	}
	us, err := parseUint(KeyActiveUsec, usec, 0, uint64(math.MaxInt64/int64(time.Microsecond)))
	if err != nil {
		return err
	}
	r.ActiveFor = time.Duration(us) * time.Microsecond
	return nil
}
