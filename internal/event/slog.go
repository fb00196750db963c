package event

import (
	"context"
	"log/slog"
)

// Attribute keys of an event as a log record: the typed fields, under
// these names, come before Attrs.
const (
	KeySite       = "site"
	KeyKind       = "event"
	KeyPid        = "pid"
	KeyWorker     = "worker"
	KeyGeneration = "generation"
	KeyStatus     = "status"
	KeyReason     = "reason"
	KeyErr        = "err"
)

// Record returns e as a log record: its message and level, then the fields
// that are set (site, event, pid, worker, generation, status, reason, err),
// then Attrs.
func Record(e Event) slog.Record {
	r := slog.NewRecord(e.Time, e.Level, e.Message, 0)
	if e.Site != "" {
		r.AddAttrs(slog.String(KeySite, e.Site))
	}
	r.AddAttrs(slog.String(KeyKind, e.Kind.String()))
	if e.Pid != 0 {
		r.AddAttrs(slog.Int(KeyPid, e.Pid))
	}
	if e.Worker != 0 {
		r.AddAttrs(slog.Int(KeyWorker, e.Worker), slog.Int(KeyGeneration, e.Generation))
	}
	for _, kv := range [...]struct{ k, v string }{{KeyStatus, e.Status}, {KeyReason, e.Reason}, {KeyErr, e.Err}} {
		if kv.v != "" {
			r.AddAttrs(slog.String(kv.k, kv.v))
		}
	}
	r.AddAttrs(e.Attrs...)
	return r
}

// Slog returns a Sink that writes each event to h as [Record] gives it.
// It blocks while h does: put it behind a Queue when h writes to anything
// that can stall.
func Slog(h slog.Handler) Sink {
	return Func(func(e Event) {
		if h.Enabled(context.Background(), e.Level) {
			h.Handle(context.Background(), Record(e))
		}
	})
}
