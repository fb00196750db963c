package journal

import (
	"log/slog"
	"testing"

	"github.com/coreos/go-systemd/v22/journal"
	"github.com/google/go-cmp/cmp"
)

type entry struct {
	msg  string
	pri  journal.Priority
	vars map[string]string
}

func TestHandler(t *testing.T) {
	var got []entry
	h := NewHandler(func(msg string, pri journal.Priority, vars map[string]string) error {
		got = append(got, entry{msg, pri, vars})
		return nil
	})
	log := slog.New(h).With("site", "blog")
	log.Warn("worker exited unexpectedly", "event", "worker-crashed", "pid", 4242, "generation", 3,
		"status", "killed by SIGKILL", "served", 17)
	log.WithGroup("pool").Info("idle", "after", "10m")

	want := []entry{{
		msg: "worker exited unexpectedly pid=4242 generation=3 status=\"killed by SIGKILL\" served=17",
		pri: journal.PriWarning,
		vars: map[string]string{
			"SYSLOG_IDENTIFIER": "zsm", "ZSM_SITE": "blog", "ZSM_EVENT": "worker-crashed",
			"MESSAGE_ID":     MessageIDs["worker-crashed"],
			"ZSM_WORKER_PID": "4242", "ZSM_GENERATION": "3", "ZSM_EXIT_STATUS": "killed by SIGKILL", "ZSM_SERVED": "17",
		},
	}, {
		msg:  "idle pool_after=10m",
		pri:  journal.PriInfo,
		vars: map[string]string{"SYSLOG_IDENTIFIER": "zsm", "ZSM_SITE": "blog", "ZSM_POOL_AFTER": "10m"},
	}}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(entry{})); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}
}

func TestMessageIDs(t *testing.T) {
	seen := map[string]string{}
	for ev, id := range MessageIDs {
		if len(id) != 32 {
			t.Errorf("%s: MESSAGE_ID %q is not 128 bits of hex", ev, id)
		}
		if other, dup := seen[id]; dup {
			t.Errorf("%s and %s share MESSAGE_ID %s", ev, other, id)
		}
		seen[id] = ev
	}
}
