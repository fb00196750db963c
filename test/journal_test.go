package test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/zsm-dev/zsm/internal/event"
	"github.com/zsm-dev/zsm/internal/journal"
	"github.com/zsm-dev/zsm/test/systemdtest"
)

// journalEntries returns the entries of `journalctl -o json ARGS...` as
// field maps (string fields only).
func journalEntries(t *testing.T, args ...string) []map[string]string {
	t.Helper()
	out := systemdtest.Journal(t, append([]string{"-o", "json"}, args...)...)
	var entries []map[string]string
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var raw map[string]any
		if err := json.Unmarshal(sc.Bytes(), &raw); err != nil {
			t.Fatalf("journal entry %q: %v", sc.Text(), err)
		}
		e := map[string]string{}
		for k, v := range raw {
			if s, ok := v.(string); ok {
				e[k] = s
			}
		}
		entries = append(entries, e)
	}
	return entries
}

// TestJournal: the broker's events reach the journal as structured entries
// with the fields of docs and a MESSAGE_ID per kind, and each worker's
// output is a stream of its own, under the site's identifier and the
// worker's own pid, so `journalctl --user-unit zsm@SITE.service _PID=PID`
// shows one worker.
func TestJournal(t *testing.T) {
	systemdtest.Require(t)
	bin := systemdtest.BuildBinaries(t)
	port := freePort(t)
	s := enable(t, "journal", `site "%s" {
  listen   = ["127.0.0.1:`+fmt.Sprint(port)+`"]
  protocol = "http"
  command  = ["`+helloWorker(t, bin)+`"]
}`)
	if code, _, err := get("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err != nil || code != 200 {
		t.Fatalf("request: %d %v", code, err)
	}
	unit := "--user-unit=zsm@" + s.name + ".service"

	// The events, by field (the first of each kind).
	byEvent := map[string]map[string]string{}
	startedPids := map[string]bool{}
	var readyPids []string
	systemdtest.Eventually(t, 10*time.Second, "broker-ready, worker-started and worker-ready in the journal", func() bool {
		readyPids = nil
		for _, e := range journalEntries(t, unit, "ZSM_SITE="+s.name) {
			if byEvent[e["ZSM_EVENT"]] == nil {
				byEvent[e["ZSM_EVENT"]] = e
			}
			switch e["ZSM_EVENT"] {
			case "worker-started":
				startedPids[e["ZSM_WORKER_PID"]] = true
			case "worker-ready":
				readyPids = append(readyPids, e["ZSM_WORKER_PID"])
			}
		}
		return byEvent["broker-ready"] != nil && byEvent["worker-started"] != nil && len(readyPids) > 0
	})
	started := byEvent["worker-started"]
	for field, want := range map[string]string{
		"SYSLOG_IDENTIFIER": "zsm",
		"MESSAGE_ID":        journal.MessageIDs[event.WorkerStarted],
		"PRIORITY":          "6",
		"ZSM_GENERATION":    "0",
	} {
		if started[field] != want {
			t.Errorf("worker-started: %s=%q, want %q", field, started[field], want)
		}
	}
	pid := started["ZSM_WORKER_PID"]
	if pid == "" || !strings.HasPrefix(started["MESSAGE"], "worker started") {
		t.Fatalf("worker-started entry: %v", started)
	}
	for _, p := range readyPids {
		if !startedPids[p] {
			t.Errorf("worker-ready names pid %s, which no worker-started entry does", p)
		}
	}

	// The worker's own stderr ("hello: serving ..."): its pid, the site's
	// identifier.
	systemdtest.Eventually(t, 10*time.Second, "the worker's stderr line under its own pid", func() bool {
		for _, e := range journalEntries(t, unit, "_PID="+pid) {
			if strings.HasPrefix(e["MESSAGE"], "hello: serving") {
				if e["SYSLOG_IDENTIFIER"] != s.name {
					t.Errorf("worker line identifier %q, want the site %q", e["SYSLOG_IDENTIFIER"], s.name)
				}
				return true
			}
		}
		return false
	})
}
