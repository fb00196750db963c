package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestMain runs the parts of the bench that it re-executes itself for
// (the cold start inside test/with-systemd), then the tests.
func TestMain(m *testing.M) {
	if code, ok := innerMain(); ok {
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// smokeArgs is a tiny configuration of every scenario: seconds, not minutes.
func smokeArgs(out string) []string {
	return []string{
		"-quick", "-loader", "go", "-peers=false",
		"-duration", "300ms", "-warmup", "50ms", "-connections", "4",
		"-cold-n", "1", "-delays", "0s,20ms", "-warm-n", "30",
		"-reloads", "3", "-reload-duration", "900ms",
		"-workers", "1,3", "-cpu-duration", "300ms",
		"-idle-conns", "40", "-idle-hold", "50ms",
		"-json", filepath.Join(out, "results.json"), "-md", filepath.Join(out, "BENCHMARKS.md"),
	}
}

// TestSmoke runs every scenario end to end in a tiny configuration, with
// the built-in load generator and without peers, so that it needs neither
// wrk nor haproxy; it checks the outputs and that nothing is left behind.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds zsm and runs servers")
	}
	tmp := t.TempDir()
	benchTmp := filepath.Join(tmp, "tmp")
	out := filepath.Join(tmp, "out")
	if err := os.Mkdir(benchTmp, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TMPDIR", benchTmp)
	fds, goroutines := openFDs(t), runtime.NumGoroutine()

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	start := time.Now()
	if err := run(ctx, smokeArgs(out), &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\nstdout:\n%s\nstderr:\n%s", err, &stdout, &stderr)
	}
	t.Logf("smoke run took %v", time.Since(start).Round(time.Millisecond))

	b, err := os.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var res Results
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatalf("results.json: %v", err)
	}
	var names []string
	figures := map[string]*Figure{}
	for _, sc := range res.Scenarios {
		names = append(names, sc.Name)
		if sc.Error != "" {
			t.Errorf("scenario %s failed: %s", sc.Name, sc.Error)
		}
		if sc.Skipped != "" && sc.Name != scenarioStart {
			t.Errorf("scenario %s skipped: %s", sc.Name, sc.Skipped)
		}
		for _, f := range sc.Figures {
			figures[f.ID] = f
		}
	}
	if got, want := strings.Join(names, ","), strings.Join(allScenarios, ","); got != want {
		t.Errorf("scenarios = %s, want %s", got, want)
	}
	positive := []string{
		"throughput.keepalive.direct.req_per_s", "throughput.newconn.handoff.req_per_s",
		"throughput.keepalive.listen.vs_direct", "throughput.newconn.proxy.p99_us",
		"throughput.keepalive.c1.proxy.req_per_s", "throughput.keepalive.c64.proxy.req_per_s",
		"throughput.keepalive.64KiB.c4.proxy.req_per_s", "throughput.newconn.c4.proxy.req_per_s",
		"start.warm.handoff.p50_us",
		"reload.handoff.reload_req_per_s", "reload.proxy.steady_req_per_s", "reload.listen.reloads",
		"cost.memory.workers_3.broker_rss_mib", "cost.cpu.handoff.cpu_s_per_100k",
		"cost.idle.handoff.held", "cost.idle.proxy.broker_rss_mib",
	}
	if isRoot() {
		positive = append(positive, "start.cold.20ms.handoff.p50_ms", "start.cold.0ms.plain_systemd.p50_ms")
	}
	for _, id := range positive {
		f, ok := figures[id]
		switch {
		case !ok:
			t.Errorf("no figure %s", id)
		case f.Value == nil || *f.Value <= 0:
			t.Errorf("figure %s = %v, want a positive number", id, f.Value)
		}
	}
	for _, id := range []string{"reload.handoff.failed_requests", "cost.idle.handoff.answered", "throughput.keepalive.handoff.target_vs_direct"} {
		if f, ok := figures[id]; !ok || f.Target == nil || f.Pass == nil {
			t.Errorf("figure %s has no target or no verdict: %+v", id, f)
		}
	}
	if res.Summary.Targets == 0 || res.Machine.Cores == 0 || res.Machine.Go == "" || res.Settings.Loader != "go" {
		t.Errorf("summary %+v, machine %+v, settings %+v", res.Summary, res.Machine, res.Settings)
	}

	md, err := os.ReadFile(filepath.Join(out, "BENCHMARKS.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"## Machine", "## Targets", "## 1. Throughput", "## 2. Start", "## 3. Reload under load",
		"## 4. Broker cost", "## How to run", "## Where targets are missed", notesBody(notes), "| handoff |",
		"Proxy and haproxy, by load", "| keep-alive | hello (6 B) | 64 | ", "| keep-alive | 64 KiB | 4 | ",
		"| new per request | hello (6 B) | 4 | "} {
		if !bytes.Contains(md, []byte(want)) {
			t.Errorf("BENCHMARKS.md has no %q", want)
		}
	}
	checkRender(t, out, md)
	for _, want := range []string{"Throughput, keep-alive", "Reload under load", "Broker memory", "## Targets:"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("stdout has no %q", want)
		}
	}

	// Nothing left behind: the temp dir and its sockets are gone (run
	// already failed on a process of the run still running), and this
	// process holds no more fds or goroutines than before.
	if ents, err := os.ReadDir(benchTmp); err != nil || len(ents) > 0 {
		t.Errorf("left in TMPDIR: %v %v", ents, err)
	}
	if got := openFDs(t); got != fds {
		t.Errorf("open fds: %d before the run, %d after", fds, got)
	}
	err = eventually(context.Background(), 5*time.Second, "goroutines of the run to end", func() (bool, error) {
		return runtime.NumGoroutine() <= goroutines, nil
	})
	if err != nil {
		t.Errorf("%v: %d before the run, %d after", err, goroutines, runtime.NumGoroutine())
	}
}

// checkRender redoes the report of the run in out with -render, which
// must give the same markdown as the run wrote: the JSON keeps everything.
func checkRender(t *testing.T, out string, md []byte) {
	t.Helper()
	again := filepath.Join(out, "again.md")
	var stderr bytes.Buffer
	err := run(context.Background(), []string{"-render", "-json", filepath.Join(out, "results.json"), "-md", again}, io.Discard, &stderr)
	if err != nil {
		t.Fatalf("-render: %v\n%s", err, &stderr)
	}
	b, err := os.ReadFile(again)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(md), string(b)); diff != "" {
		t.Errorf("-render wrote another report than the run (-run +render):\n%s", diff)
	}
}

// TestSmokeWrk runs one short comparison with wrk, where it is installed.
func TestSmokeWrk(t *testing.T) {
	if testing.Short() {
		t.Skip("builds zsm and runs servers")
	}
	if _, err := exec.LookPath("wrk"); err != nil {
		t.Skip("wrk not installed (Debian package wrk)")
	}
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	args := []string{"-scenario", "throughput", "-only", "direct,handoff", "-conn", "keepalive", "-rounds", "1",
		"-duration", "1s", "-warmup", "50ms", "-json", filepath.Join(out, "r.json"), "-md", ""}
	if err := run(context.Background(), args, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\nstdout:\n%s\nstderr:\n%s", err, &stdout, &stderr)
	}
	b, err := os.ReadFile(filepath.Join(out, "r.json"))
	if err != nil {
		t.Fatal(err)
	}
	var res Results
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	if res.Settings.Loader != "wrk" || len(res.Scenarios) != 1 {
		t.Fatalf("settings %+v, %d scenarios", res.Settings, len(res.Scenarios))
	}
	found := false
	for _, f := range res.Scenarios[0].Figures {
		if f.ID == "throughput.keepalive.handoff.req_per_s" {
			found = f.Value != nil && *f.Value > 0
		}
	}
	if !found {
		t.Errorf("no handoff req/s measured with wrk:\n%s", &stdout)
	}
}

// openFDs counts this process's open fds, after making sure the network
// poller (created once, on first use) exists.
func openFDs(t *testing.T) int {
	t.Helper()
	if ln, err := net.Listen("tcp", "127.0.0.1:0"); err == nil {
		ln.Close()
	}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}
