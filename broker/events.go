package broker

import (
	"log/slog"
	"time"

	"github.com/zsm-dev/zsm/internal/event"
)

// emit sends e, stamped with the time and the site, to the broker's sinks.
func (p *pool) emit(e event.Event) {
	e.Time = time.Now()
	e.Site = p.site.Name
	p.b.events.Event(e)
}

// about returns an event of kind about w.
func (w *worker) about(kind event.Kind, level slog.Level, msg string) event.Event {
	return event.Event{Kind: kind, Level: level, Message: msg, Pid: w.pid, Worker: w.seq, Generation: w.gen}
}

// attrs turns key, value pairs into an event's attributes.
func attrs(kv ...any) []slog.Attr {
	out := make([]slog.Attr, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, slog.Any(kv[i].(string), kv[i+1]))
	}
	return out
}
