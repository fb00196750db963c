package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/zsm-dev/zsm/internal/busapi"
	"github.com/zsm-dev/zsm/internal/status"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var now = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

var sites = []status.Site{{
	Site: "blog", Mode: "handoff", State: "running", Generation: 3, Accepted: 18342, Served: 18330,
	Active: 3, Shed: 7, Failed: 2, Restarts: 1, Breaker: "closed", LogDropped: 12, Version: "v1.2.0 (go1.26.8)",
	Requests: 60836, RequestsPerSec: 812.5,
	Listeners:      []status.Listener{{Addr: "127.0.0.1:8080", Queue: 2, Backlog: 4096}, {Addr: "unix:blog.sock"}},
	QueueWait:      status.Histogram{Bounds: []float64{0.00025, 0.0025, 1}, Counts: []uint64{18000, 300, 40, 2}, Sum: 9.5},
	HandoffLatency: status.Histogram{Bounds: []float64{0.00025, 0.0025, 1}, Counts: []uint64{18340, 2, 0, 0}, Sum: 3.1},
	Events: []status.Event{
		{Time: uint64(now.Add(-3 * time.Second).UnixMicro()), Kind: "worker-started", Level: "INFO", Message: "worker started pid=41990 worker=2 generation=3 command=./blog"},
		{Time: uint64(now.Add(-2 * time.Second).UnixMicro()), Kind: "worker-crashed", Level: "WARN", Message: `worker exited unexpectedly pid=41236 worker=1 generation=3 status="killed by SIGKILL" served=39 lost=1`},
	},
	Workers: []status.Worker{
		{Pid: 41237, State: "ready", Served: 18291, Started: uint64(now.Add(-2*time.Hour - 13*time.Minute).UnixMicro()), RSS: 48 << 20, Held: 3, Busy: 2},
		{Pid: 41990, State: "starting", Started: uint64(now.Add(-2 * time.Second).UnixMicro()), RSS: 6 << 20},
	},
}, {
	Site: "api", Mode: "proxy", State: "failing", Generation: 7, Accepted: 120, Served: 76, Shed: 41, Failed: 3,
	Restarts: 5, Breaker: "open", LastError: "cannot start ./api (in /srv/api): no such file or directory",
	// Every connection waited longer than the last bound: p99 above it.
	QueueWait: status.Histogram{Bounds: []float64{0.00025, 0.0025, 1}, Counts: []uint64{0, 0, 0, 120}, Sum: 240},
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

// brokerless are sites whose broker is not running, as systemd's socket
// units describe them.
var brokerless = []status.Site{
	{Site: "docs", State: status.StateIdle, Listen: []string{"127.0.0.1:8081", "/run/user/1000/docs.sock"}},
	{Site: "shop", State: status.StateSocketFailed, Listen: []string{"127.0.0.1:8082"},
		LastError: "socket failed: resources: Failed to create listening socket (127.0.0.1:8082): Address already in use"},
	{Site: "wiki", State: status.StateSocketFailed, Listen: []string{"127.0.0.1:8083"}, LastError: "socket failed: resources"},
	{Site: "old", State: status.StateSocketInactive, Listen: []string{"127.0.0.1:8084"}},
}

// TestStatusTableBrokerless: sites without a broker follow the running
// ones, each with what systemd does with its sockets.
func TestStatusTableBrokerless(t *testing.T) {
	var b bytes.Buffer
	if err := table(&b, append(sites[:1:1], brokerless...)); err != nil {
		t.Fatal(err)
	}
	golden(t, "status-table-brokerless.txt", b.Bytes())

	b.Reset()
	if err := table(&b, brokerless[:1]); err != nil {
		t.Fatal(err)
	}
	want := "sites without a running broker:\n  docs  idle, socket listening on 127.0.0.1:8081, /run/user/1000/docs.sock\n"
	if b.String() != want {
		t.Errorf("only an idle site:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestStatusDetailBrokerless(t *testing.T) {
	for _, s := range brokerless {
		var b bytes.Buffer
		if err := detail(&b, s, now); err != nil {
			t.Fatal(err)
		}
		golden(t, "status-"+s.Site+".txt", b.Bytes())
	}
}

// TestMerge: a running broker's live status stays as it is, with its
// addresses from systemd; sites without a broker come from their socket
// units; all sorted by name.
func TestMerge(t *testing.T) {
	live := []status.Site{{Site: "shop", Mode: "handoff", State: "running", Served: 9},
		{Site: "self", Mode: "listen", State: "cold"}} // a broker with sockets of its own
	units := []busapi.SocketUnit{
		{Site: "shop", ActiveState: "active", SubState: "running", Listen: []string{"127.0.0.1:8082"}},
		{Site: "blog", ActiveState: "active", SubState: "listening", Listen: []string{"127.0.0.1:8080"}},
		{Site: "zed", ActiveState: "failed", SubState: "failed", Result: "resources", Listen: []string{"127.0.0.1:8089"}},
	}
	want := []status.Site{
		{Site: "blog", State: status.StateIdle, Listen: []string{"127.0.0.1:8080"}},
		{Site: "self", Mode: "listen", State: "cold"},
		{Site: "shop", Mode: "handoff", State: "running", Served: 9, Listen: []string{"127.0.0.1:8082"}},
		{Site: "zed", State: status.StateSocketFailed, Listen: []string{"127.0.0.1:8089"}, LastError: "socket failed: resources"},
	}
	if diff := cmp.Diff(want, merge(t.Context(), live, units)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if live[0].Listen != nil {
		t.Error("merge changed its input")
	}
}
