package journal

import (
	"log/slog"
	"strings"

	"github.com/coreos/go-systemd/v22/journal"

	"github.com/zsm-dev/zsm/internal/event"
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

// fields maps event attribute keys (event.Record) to journal fields;
// other keys become ZSM_<KEY>.
var fields = map[string]string{
	event.KeySite:       FieldSite,
	event.KeyKind:       FieldEvent,
	event.KeyPid:        FieldWorkerPid,
	event.KeyWorker:     FieldWorker,
	event.KeyGeneration: FieldGeneration,
	event.KeyStatus:     FieldExitStatus,
	event.KeyErr:        FieldError,
	event.KeyReason:     FieldReason,
}

// MessageIDs gives each kind of event its MESSAGE_ID.
var MessageIDs = map[event.Kind]string{
	event.BrokerReady:     "6ed91edb7d2151ccb952121d4805726e",
	event.FirstConnection: "c87dd9d1828a588986fb7657199077f7",
	event.WorkerStarted:   "920fe3eb65d15cb6bdc7d4753954782c",
	event.WorkerReady:     "5e08edcda66055478d0c9d01b7a66659",
	event.WorkerExited:    "0faca9b4a4425fb6bcab600f21fca3db",
	event.WorkerCrashed:   "b73ea57526fc5e01b015139d1c929b69",
	event.StartFailed:     "576c0bb04112544e9fd495192d20f6bb",
	event.WorkerStopping:  "370be59118835cd59382200bf1357bff",
	event.WorkerKilled:    "6c9d04d898f85e95b94901724a1207ee",
	event.ProtocolError:   "4530bc53067e55e095132606e994ce5a",
	event.Refused:         "4066ac2bfa3e57119184508b66527519",
	event.BreakerOpen:     "5bfd2d0b08e0569e9499f15d97490f25",
	event.BreakerClosed:   "26c7920b52eb5465a2255766a5ce8f9b",
	event.Reloading:       "11c7f827de1c57c2979ed7298c338fbb",
	event.Reloaded:        "b6e8f106977d55b1b13c63b9e3d25c33",
	event.ReloadFailed:    "be4eadac46545c46943f79ec1492b5e3",
	event.Recycling:       "8d251adf5f0d52aba084ab19f14886a4",
	event.Idle:            "438d6c9bd5e1518cb7c37e0e5fe8be87",
	event.Stopping:        "cef3b7dd172d50aba97d7afc48584b72",
	event.Stored:          "24d0bff5fcf453a8a60b6469d25cf365",
	event.AcceptFailed:    "4f9828e998c75de79176bbc72a527cbb",
	event.Notice:          "15f75ca0f29953ddb80d96f62c1bb7bb",
	event.WorkerStuck:     "c67d6edc63a1bf434f4e198fd0db987f",
	event.SlowRequest:     "f7cffb6712cf41d0b24b83f983bd92f7",
	event.RequestTimeout:  "5dc7b1cddb644fdfb9203db6001682ce",
}

// Sender writes one entry: a Writer's Send.
type Sender func(message string, priority journal.Priority, vars map[string]string) error

// Sink returns an event.Sink that writes each event as one entry with
// send: MESSAGE= is the event's message followed by its fields as
// key=value (less the site and the kind, which have fields of their own),
// PRIORITY= its level. It blocks while send does: put it behind an
// event.Queue.
func Sink(send Sender) event.Sink {
	return event.Func(func(e event.Event) {
		send(Entry(e))
	})
}

// Entry is the journal entry for e: its message, priority and fields.
func Entry(e event.Event) (string, journal.Priority, map[string]string) {
	r := event.Record(e)
	vars := map[string]string{FieldIdentifier: Identifier}
	r.Attrs(func(a slog.Attr) bool {
		vars[fieldName(a.Key)] = a.Value.Resolve().String()
		return true
	})
	if id, ok := MessageIDs[e.Kind]; ok {
		vars[FieldMessageID] = id
	}
	return event.Text(e), priority(r.Level), vars
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

// StderrIsJournal reports whether this process's stderr is a journal stream
// (JOURNAL_STREAM names its device and inode, as systemd sets it for
// services): then structured entries replace plain lines.
func StderrIsJournal() bool {
	ok, _ := journal.StderrIsJournalStream()
	return ok
}
