package journal

import (
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/coreos/go-systemd/v22/journal"
	"github.com/google/go-cmp/cmp"

	"github.com/zsm-dev/zsm/internal/event"
)

type entry struct {
	msg  string
	pri  journal.Priority
	vars map[string]string
}

func TestEntry(t *testing.T) {
	var got []entry
	sink := Sink(func(msg string, pri journal.Priority, vars map[string]string) error {
		got = append(got, entry{msg, pri, vars})
		return nil
	})
	sink.Event(event.Event{Kind: event.WorkerCrashed, Level: slog.LevelWarn, Site: "blog", Message: "worker exited unexpectedly",
		Pid: 4242, Worker: 2, Generation: 3, Status: "killed by SIGKILL", Attrs: []slog.Attr{slog.Int("served", 17)}})
	sink.Event(event.Event{Kind: event.Idle, Site: "blog", Message: "idle", Attrs: []slog.Attr{slog.String("after", "10m")}})

	want := []entry{{
		msg: "worker exited unexpectedly pid=4242 worker=2 generation=3 status=\"killed by SIGKILL\" served=17",
		pri: journal.PriWarning,
		vars: map[string]string{
			"SYSLOG_IDENTIFIER": "zsm", "ZSM_SITE": "blog", "ZSM_EVENT": "worker-crashed",
			"MESSAGE_ID":     MessageIDs[event.WorkerCrashed],
			"ZSM_WORKER_PID": "4242", "ZSM_WORKER": "2", "ZSM_GENERATION": "3", "ZSM_EXIT_STATUS": "killed by SIGKILL", "ZSM_SERVED": "17",
		},
	}, {
		msg: "idle after=10m",
		pri: journal.PriInfo,
		vars: map[string]string{"SYSLOG_IDENTIFIER": "zsm", "ZSM_SITE": "blog", "ZSM_EVENT": "idle",
			"MESSAGE_ID": MessageIDs[event.Idle], "ZSM_AFTER": "10m"},
	}}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(entry{})); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}
}

// Every kind of event has a MESSAGE_ID of its own.
func TestMessageIDs(t *testing.T) {
	seen := map[string]event.Kind{}
	for _, k := range event.Kinds() {
		id := MessageIDs[k]
		if len(id) != 32 {
			t.Errorf("%s: MESSAGE_ID %q is not 128 bits of hex", k, id)
		}
		if other, dup := seen[id]; dup {
			t.Errorf("%s and %s share MESSAGE_ID %s", k, other, id)
		}
		seen[id] = k
	}
}

// The Writer speaks the native protocol, a value with a newline in the
// binary form.
func TestWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "socket")
	srv, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	w, err := Dial(path)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Send("two\nlines", journal.PriErr, map[string]string{"ZSM_SITE": "blog"}); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	n, err := srv.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	want := "MESSAGE\n\x09\x00\x00\x00\x00\x00\x00\x00two\nlines\nPRIORITY=3\nZSM_SITE=blog\n"
	if got := string(buf[:n]); got != want {
		t.Errorf("datagram %q, want %q", got, want)
	}
}

// A journal that does not read costs entries, each send at most
// SendTimeout, never a caller stuck.
func TestWriterStalled(t *testing.T) {
	path := filepath.Join(t.TempDir(), "socket")
	srv, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close() // never read
	w, err := Dial(path)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var failed error
	for range 1000 {
		if failed = w.Send("hello", journal.PriInfo, nil); failed != nil {
			break
		}
	}
	if !errors.Is(failed, os.ErrDeadlineExceeded) {
		t.Fatalf("1000 sends to a socket nobody reads: %v; want the deadline", failed)
	}
	if err := w.Send("hello", journal.PriInfo, nil); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("the next send: %v", err)
	}
}
