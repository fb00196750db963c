// Package journal sends the broker's events to systemd's journal as
// structured entries (systemd.journal-fields(7)): every field zsm writes is
// named here, once. Handler is an slog.Handler: a record's message becomes
// MESSAGE=, its level PRIORITY=, and its attributes journal fields, with
// "event" giving ZSM_EVENT= and a MESSAGE_ID= per kind of event, so that
// `journalctl ZSM_SITE=blog ZSM_EVENT=worker-crashed` or `journalctl
// MESSAGE_ID=...` find them.
package journal

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/coreos/go-systemd/v22/journal"
	"golang.org/x/sys/unix"
)

// Journal fields zsm writes.
const (
	FieldIdentifier = "SYSLOG_IDENTIFIER"
	FieldMessageID  = "MESSAGE_ID"
	FieldSite       = "ZSM_SITE"
	FieldEvent      = "ZSM_EVENT"
	FieldWorkerPid  = "ZSM_WORKER_PID"
	FieldWorker     = "ZSM_WORKER" // the worker's sequence number in its broker
	FieldGeneration = "ZSM_GENERATION"
	FieldExitStatus = "ZSM_EXIT_STATUS"
	FieldError      = "ZSM_ERROR"
	FieldReason     = "ZSM_REASON"
)

// Identifier is the SYSLOG_IDENTIFIER of the broker's own entries.
const Identifier = "zsm"

// fields maps slog attribute keys to journal fields; other keys become
// ZSM_<KEY>.
var fields = map[string]string{
	"site":       FieldSite,
	"event":      FieldEvent,
	"pid":        FieldWorkerPid,
	"worker":     FieldWorker,
	"generation": FieldGeneration,
	"status":     FieldExitStatus,
	"err":        FieldError,
	"reason":     FieldReason,
}

// MessageIDs gives each broker event (broker.Events) its MESSAGE_ID.
var MessageIDs = map[string]string{
	"broker-ready":       "6ed91edb7d2151ccb952121d4805726e",
	"first-connection":   "c87dd9d1828a588986fb7657199077f7",
	"worker-started":     "920fe3eb65d15cb6bdc7d4753954782c",
	"worker-ready":       "5e08edcda66055478d0c9d01b7a66659",
	"worker-exited":      "0faca9b4a4425fb6bcab600f21fca3db",
	"worker-crashed":     "b73ea57526fc5e01b015139d1c929b69",
	"start-failed":       "576c0bb04112544e9fd495192d20f6bb",
	"worker-stopping":    "370be59118835cd59382200bf1357bff",
	"worker-killed":      "6c9d04d898f85e95b94901724a1207ee",
	"protocol-error":     "4530bc53067e55e095132606e994ce5a",
	"connection-refused": "4066ac2bfa3e57119184508b66527519",
	"breaker-open":       "5bfd2d0b08e0569e9499f15d97490f25",
	"breaker-closed":     "26c7920b52eb5465a2255766a5ce8f9b",
	"reloading":          "11c7f827de1c57c2979ed7298c338fbb",
	"reloaded":           "b6e8f106977d55b1b13c63b9e3d25c33",
	"reload-failed":      "be4eadac46545c46943f79ec1492b5e3",
	"recycling":          "8d251adf5f0d52aba084ab19f14886a4",
	"idle":               "438d6c9bd5e1518cb7c37e0e5fe8be87",
	"stopping":           "cef3b7dd172d50aba97d7afc48584b72",
	"connections-stored": "24d0bff5fcf453a8a60b6469d25cf365",
	"accept-failed":      "4f9828e998c75de79176bbc72a527cbb",
	"notice":             "15f75ca0f29953ddb80d96f62c1bb7bb",
}

// Sender writes one entry; journal.Send in production.
type Sender func(message string, priority journal.Priority, vars map[string]string) error

// Handler is an slog.Handler that writes to the journal.
type Handler struct {
	send  Sender
	attrs []slog.Attr
	group string
}

// NewHandler returns a Handler writing with send (nil: journal.Send).
func NewHandler(send Sender) *Handler {
	if send == nil {
		send = journal.Send
	}
	return &Handler{send: send}
}

// Enabled implements slog.Handler: every level is written.
func (h *Handler) Enabled(context.Context, slog.Level) bool { return true }

// Handle writes r as one entry.
func (h *Handler) Handle(_ context.Context, r slog.Record) error {
	vars := map[string]string{FieldIdentifier: Identifier}
	var text strings.Builder
	text.WriteString(r.Message)
	add := func(a slog.Attr) {
		a.Value = a.Value.Resolve()
		if a.Equal(slog.Attr{}) {
			return
		}
		key := a.Key
		v := a.Value.String()
		vars[fieldName(key)] = v
		if key != "event" && key != "site" {
			fmt.Fprintf(&text, " %s=%s", key, quote(v))
		}
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(func(a slog.Attr) bool {
		add(h.grouped(a))
		return true
	})
	if id, ok := MessageIDs[vars[FieldEvent]]; ok {
		vars[FieldMessageID] = id
	}
	return h.send(text.String(), priority(r.Level), vars)
}

// WithAttrs implements slog.Handler.
func (h *Handler) WithAttrs(as []slog.Attr) slog.Handler {
	h2 := *h
	h2.attrs = append([]slog.Attr(nil), h.attrs...)
	for _, a := range as {
		h2.attrs = append(h2.attrs, h.grouped(a))
	}
	return &h2
}

// grouped prefixes a's key with the handler's group, as it is now.
func (h *Handler) grouped(a slog.Attr) slog.Attr {
	if h.group != "" {
		a.Key = h.group + "_" + a.Key
	}
	return a
}

// WithGroup implements slog.Handler: a group prefixes its keys.
func (h *Handler) WithGroup(name string) slog.Handler {
	h2 := *h
	if h2.group != "" {
		name = h2.group + "_" + name
	}
	h2.group = name
	return &h2
}

// fieldName is the journal field for an attribute key: A-Z, 0-9, _ only.
func fieldName(key string) string {
	if f, ok := fields[key]; ok {
		return f
	}
	var b strings.Builder
	b.WriteString("ZSM_")
	for _, c := range strings.ToUpper(key) {
		if (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') {
			b.WriteRune(c)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

func priority(l slog.Level) journal.Priority {
	switch {
	case l >= slog.LevelError:
		return journal.PriErr
	case l >= slog.LevelWarn:
		return journal.PriWarning
	case l >= slog.LevelInfo:
		return journal.PriInfo
	}
	return journal.PriDebug
}

func quote(v string) string {
	if v == "" || strings.ContainsAny(v, " \t\"=") {
		return fmt.Sprintf("%q", v)
	}
	return v
}

// StderrIsJournal reports whether this process's stderr is a journal stream
// (JOURNAL_STREAM names its device and inode, as systemd sets it for
// services): then structured entries replace plain lines.
func StderrIsJournal() bool {
	ok, _ := journal.StderrIsJournalStream()
	return ok
}

// StreamSocket is journald's stdout stream socket (systemd-journald.service(8)).
const StreamSocket = "/run/systemd/journal/stdout"

// Stream connects a new journal stream for a process's output: entries
// carry identifier as SYSLOG_IDENTIFIER and the connecting process as _PID
// (journald reads the peer's credentials), at priority with "<N>" level
// prefixes honoured. The caller owns the returned file.
func Stream(identifier string, priority journal.Priority) (*os.File, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	f := os.NewFile(uintptr(fd), "journal-stream")
	if err := unix.Connect(fd, &unix.SockaddrUnix{Name: StreamSocket}); err != nil {
		f.Close()
		return nil, fmt.Errorf("journal: connecting to %s: %w", StreamSocket, err)
	}
	unix.Shutdown(fd, unix.SHUT_RD)
	// identifier, unit id, priority, level prefix, and forwarding to
	// syslog, kmsg and the console (off).
	header := fmt.Sprintf("%s\n\n%d\n1\n0\n0\n0\n", identifier, priority)
	if _, err := f.Write([]byte(header)); err != nil {
		f.Close()
		return nil, fmt.Errorf("journal: %w", err)
	}
	return f, nil
}
