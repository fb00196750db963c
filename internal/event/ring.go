package event

import (
	"log/slog"
	"strconv"
	"strings"
	"sync"
)

// Ring keeps the last events it was sent, for status surfaces that show
// what happened lately. It never blocks for long: a sink needs no queue
// in front of it. Make one with NewRing.
type Ring struct {
	mu     sync.Mutex // guards what follows
	events []Event    // a ring: the oldest at next once full
	next   int
	full   bool
}

// NewRing returns a Ring keeping the last n events.
func NewRing(n int) *Ring { return &Ring{events: make([]Event, max(n, 1))} }

// Event keeps e, forgetting the oldest when full.
func (r *Ring) Event(e Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events[r.next] = e
	r.next = (r.next + 1) % len(r.events)
	r.full = r.full || r.next == 0
}

// Last returns the events kept, oldest first.
func (r *Ring) Last() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.full {
		return append([]Event(nil), r.events[:r.next]...)
	}
	return append(append([]Event(nil), r.events[r.next:]...), r.events[:r.next]...)
}

// Text is e for people on one line: its message, then its fields as
// key=value (less the site and the kind, which a log names otherwise), as
// the journal's MESSAGE carries it.
func Text(e Event) string {
	var b strings.Builder
	r := Record(e)
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		if a.Key != KeyKind && a.Key != KeySite {
			b.WriteString(" " + a.Key + "=" + quote(a.Value.Resolve().String()))
		}
		return true
	})
	return b.String()
}

func quote(v string) string {
	if v == "" || strings.ContainsAny(v, " \t\"=") {
		return strconv.Quote(v)
	}
	return v
}
