package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/zsm-dev/zsm/internal/status"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var now = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

var sites = []status.Site{{
	Site: "blog", Mode: "handoff", State: "running", Generation: 3, Accepted: 18342, Served: 18330,
	Active: 3, Shed: 7, Failed: 2, Restarts: 1, Breaker: "closed", LogDropped: 12, Version: "v1.2.0 (go1.26.8)",
	Events: []status.Event{
		{Time: uint64(now.Add(-3 * time.Second).UnixMicro()), Kind: "worker-started", Level: "INFO", Message: "worker started pid=41990 worker=2 generation=3 command=./blog"},
		{Time: uint64(now.Add(-2 * time.Second).UnixMicro()), Kind: "worker-crashed", Level: "WARN", Message: `worker exited unexpectedly pid=41236 worker=1 generation=3 status="killed by SIGKILL" served=39 lost=1`},
	},
	Workers: []status.Worker{
		{Pid: 41237, State: "ready", Served: 18291, Started: uint64(now.Add(-2*time.Hour - 13*time.Minute).UnixMicro()), RSS: 48 << 20},
		{Pid: 41990, State: "starting", Started: uint64(now.Add(-2 * time.Second).UnixMicro()), RSS: 6 << 20},
	},
}, {
	Site: "api", Mode: "proxy", State: "failing", Generation: 7, Accepted: 120, Served: 76, Shed: 41, Failed: 3,
	Restarts: 5, Breaker: "open", LastError: "cannot start ./api (in /srv/api): no such file or directory",
}}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test ./cmd/zsm -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from its golden file:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func TestStatusTable(t *testing.T) {
	var b bytes.Buffer
	if err := table(&b, sites); err != nil {
		t.Fatal(err)
	}
	golden(t, "status-table.txt", b.Bytes())

	b.Reset()
	table(&b, nil)
	if b.String() != "no site is running\n" {
		t.Errorf("no sites: %q", b.String())
	}
}

func TestStatusDetail(t *testing.T) {
	for _, s := range sites {
		var b bytes.Buffer
		if err := detail(&b, s, now); err != nil {
			t.Fatal(err)
		}
		golden(t, "status-"+s.Site+".txt", b.Bytes())
	}
}
