package test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zsm-dev/zsm/internal/busapi"
	"github.com/zsm-dev/zsm/internal/status"
	"github.com/zsm-dev/zsm/test/systemdtest"
)

// Faults of the configuration: a typo, a file broken before the broker
// ever ran, a pathological file, and sizes out of bounds.

// breakConfig puts a syntax error into the site's `protocol = "http"`
// line (a second '=', at column 14) and returns the good text and where
// the error is (FILE:LINE:14).
func breakConfig(t *testing.T, cfg string) (good, where string) {
	t.Helper()
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	for i, l := range lines {
		if l == `  protocol = "http"` {
			lines[i] = `  protocol = = "http"`
			writeFile(t, cfg, strings.Join(lines, "\n"))
			return string(b), fmt.Sprintf("%s:%d:14", cfg, i+1)
		}
	}
	t.Fatalf("no protocol line in %s:\n%s", cfg, b)
	return "", ""
}

// zsmStatusJSON is `zsm status --json SITE`.
func zsmStatusJSON(t *testing.T, name string) status.Site {
	t.Helper()
	out, err := runBounded(30*time.Second, "", append(os.Environ(), raceEnv()),
		filepath.Join(systemdtest.BuildBinaries(t), "zsm"), "status", "--json", name)
	var list []status.Site
	if err != nil || json.Unmarshal([]byte(out), &list) != nil || len(list) != 1 {
		t.Fatalf("zsm status --json %s: %v\n%s", name, err, out)
	}
	return list[0]
}

// expectConfigError checks that `systemctl --user status`, the STATUS=
// line and `zsm status --json` name where the file does not load, and that
// systemd did not restart the broker.
func expectConfigError(t *testing.T, r *row, name, where string) {
	t.Helper()
	svc := "zsm@" + name + ".service"
	systemdtest.Eventually(t, 10*time.Second, "the STATUS= line to name "+where, func() bool {
		return strings.Contains(showValue(t, svc, "StatusText"), where)
	})
	out, _ := systemctlOut("status", svc) // exit status 3 for inactive units; the text is what counts
	if !strings.Contains(out, where) {
		r.errorf(t, "systemctl --user status %s does not show %s:\n%s", svc, where, out)
	}
	if st := zsmStatusJSON(t, name); !strings.Contains(st.LastError, where) {
		r.errorf(t, "zsm status --json %s: LastError %q does not name %s", name, st.LastError, where)
	}
	if n := showValue(t, svc, "NRestarts"); n != "0" {
		r.errorf(t, "NRestarts=%s: the broker was restarted by systemd", n)
	}
}

// faultConfigTypo: a typo in a site's config, then a restart under load
// and a cold start: the site serves with the copy of the config that
// loaded last.
func faultConfigTypo(t *testing.T, rep *reliability) {
	addr := loopback(t)
	name, cfg := faultSite(t, "typo", helloSite(t, addr, `  pool {
    min_idle = 2
    max      = 2
  }
  timeouts {
    stop = "5s"
  }
`))
	svc := "zsm@" + name + ".service"
	expectHello(t, "tcp", addr) // the broker keeps a copy of the config
	_, where := breakConfig(t, cfg)
	t.Run("restart", func(t *testing.T) {
		r := rep.row(t, "a syntax error in the config, then `systemctl --user restart`",
			"4 clients: 2 keep their connection alive, 2 open one per request",
			"Nothing: the new broker runs the copy of the config that loaded last, and says so with "+
				"the file:line:col in `systemctl --user status` and `zsm status`.")
		tr := startTraffic(t, addr, 2, 2)
		tr.progress(t, 50)
		at := time.Now()
		systemdtest.Systemctl(t, "restart", svc)
		took := time.Since(at)
		tr.progress(t, 50)
		tl := tr.end()
		r.fill(tl)
		r.recovery = fmt.Sprintf("restart took %s", took.Round(10*time.Millisecond))
		r.expectAnswered(t, tl)
		if tl.count(sawOK) != tl.total() {
			r.errorf(t, "the restart failed requests: %s", tl)
		}
		expectConfigError(t, r, name, where)
	})
	t.Run("cold-start", func(t *testing.T) {
		r := rep.row(t, "the same typo, the broker stopped (the socket stays), then requests",
			"1 request starts the broker, then 20 one after the other",
			"A 200, after the cold start: the broker started by the connection runs the saved copy.")
		systemdtest.Systemctl(t, "stop", svc)
		tl := newTally()
		tl.add(askNew(addr, clientLimit))
		r.recovery = fmt.Sprintf("first answer after %s", tl.slowestOf(sawOK).Round(time.Millisecond))
		for range 20 {
			tl.add(askNew(addr, clientLimit))
		}
		r.fill(tl)
		if tl.count(sawOK) != tl.total() {
			r.errorf(t, "%s; want every request served from the saved copy", tl)
		}
		expectConfigError(t, r, name, where)
	})
}

// faultConfigNeverLoaded: a site whose config was broken before its broker
// ever ran, with no copy kept (zsmgen units keeps one; the case removes
// it, as a wiped state directory would), answers 503 naming the error,
// stays up, and serves once a reload loads the fixed file.
func faultConfigNeverLoaded(t *testing.T, rep *reliability) {
	r := rep.row(t, "a syntax error in the config before the site's broker ever started, and no copy of it kept (zsmgen units keeps one; removed here)",
		"20 requests one after the other, then a reload of the fixed file",
		"A 503 at once whose body names the file:line:col of the error; the broker stays up (no restart "+
			"loop); after the file is fixed, `systemctl --user reload` makes the site serve (200).")
	addr := loopback(t)
	name, cfg := faultSite(t, "never", helloSite(t, addr, ""))
	forgetSnapshot(name)
	svc := "zsm@" + name + ".service"
	good, where := breakConfig(t, cfg)
	tl := newTally()
	for range 20 {
		// The 503 is due at once; after the first request left without
		// one, the rest would only wait as long.
		o := askNew(addr, 10*time.Second)
		if tl.add(o); !o.answered() {
			break
		}
	}
	r.fill(tl)
	t.Logf("%s: %s", r.name, tl)
	r.expectAnswered(t, tl)
	if !strings.Contains(tl.String(), "×20") {
		r.errorf(t, "journal: %s", crashLine(t, svc))
	}
	if tl.count(saw503) != tl.total() || !strings.Contains(strings.Join(tl.reasonsOf(saw503), "\n"), where) {
		r.errorf(t, "%s; want a 503 naming %s for every request", tl, where)
	}
	if st := unitState(t, svc); st != "active" {
		r.errorf(t, "%s is %s; want active, answering with the error", svc, st)
	}
	if n := showValue(t, svc, "NRestarts"); n != "0" {
		r.errorf(t, "NRestarts=%s: a restart loop", n)
	}
	writeFile(t, cfg, good)
	at := time.Now()
	out, err := systemctlOut("reload", svc)
	if err != nil {
		r.errorf(t, "systemctl --user reload of the fixed file: %v: %s", err, strings.TrimSpace(out))
	}
	o := askNew(addr, clientLimit)
	tl.add(o)
	r.fill(tl)
	r.recovery = fmt.Sprintf("a 200 %s after the fix and reload", time.Since(at).Round(10*time.Millisecond))
	if err != nil {
		r.recovery = fmt.Sprintf("the reload failed; a %s %s after the fix", o.kind, time.Since(at).Round(10*time.Millisecond))
	}
	if o.kind != sawOK {
		r.errorf(t, "after the fix and reload: %s %q; want 200", o.kind, o.reason)
	}
}

// faultPathological: a reload of a config with 100,000 nested parentheses
// in a value fails, and the running broker serves on; zsmgen check refuses
// the file promptly.
func faultPathological(t *testing.T, rep *reliability) {
	r := rep.row(t, "a reload of a config with 100,000 nested `(` in a value",
		"4 clients: 2 keep their connection alive, 2 open one per request",
		"Nothing: the reload fails with the file:line:col of the problem and the running workers serve on.")
	addr := loopback(t)
	name, cfg := faultSite(t, "deep", helloSite(t, addr, "  pool {\n    min_idle = 2\n    max      = 2\n  }\n"))
	svc := "zsm@" + name + ".service"
	expectHello(t, "tcp", addr)
	good, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	deep := strings.Replace(string(good), `  protocol = "http"`,
		`  protocol = `+strings.Repeat("(", 100000)+`"http"`+strings.Repeat(")", 100000), 1)
	tr := startTraffic(t, addr, 2, 2)
	tr.progress(t, 50)
	broker := mainPID(t, svc)
	writeFile(t, cfg, deep)
	at := time.Now()
	out, err := systemctlOut("reload", svc)
	took := time.Since(at)
	died := !broker.alive()
	writeFile(t, cfg, string(good)) // at once: a new broker must not start on it
	if err == nil {
		r.errorf(t, "systemctl --user reload succeeded with 100,000 nested parentheses")
	}
	if died {
		said, _, _ := strings.Cut(strings.TrimSpace(out), "\n")
		r.errorf(t, "the broker died during the reload (%s); journal: %s", said, crashLine(t, svc))
		systemdtest.Eventually(t, 30*time.Second, "a new broker", func() bool { return unitState(t, svc) == "active" })
	}
	tr.progress(t, 50)
	tl := tr.end()
	r.fill(tl)
	r.recovery = fmt.Sprintf("the reload failed after %s", took.Round(10*time.Millisecond))
	if died {
		r.recovery = fmt.Sprintf("the broker died %s into the reload; systemd restarted it", took.Round(10*time.Millisecond))
	}
	r.expectAnswered(t, tl)
	checkPathological(t, r, deep)
}

// crashLine is the first line of a Go crash in the unit's journal, with
// the first frame of the module's own code below it.
func crashLine(t *testing.T, svc string) string {
	t.Helper()
	msgs := journalMessages(t, "--user-unit="+svc)
	for i, m := range msgs {
		if !strings.HasPrefix(m, "fatal error:") && !strings.HasPrefix(m, "panic:") {
			continue
		}
		for _, f := range msgs[i+1 : min(i+60, len(msgs))] {
			if f = strings.TrimSpace(f); strings.Contains(f, ".go:") && !strings.Contains(f, "/src/runtime/") {
				file, _, _ := strings.Cut(f, " ")
				if wd, err := os.Getwd(); err == nil { // the module root is test/'s parent
					file = strings.TrimPrefix(file, filepath.Dir(wd)+"/")
				}
				if _, dep, ok := strings.Cut(file, "/pkg/mod/"); ok {
					file = dep
				}
				return m + " at " + file
			}
		}
		return m
	}
	return "no crash message"
}

// checkPathological runs zsmgen check on the pathological config: it must
// fail within 2 seconds, naming file:line:col, without a crash.
func checkPathological(t *testing.T, r *row, deep string) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "deep.hcl")
	writeFile(t, file, deep)
	at := time.Now()
	out, err := runBounded(time.Minute, "", append(os.Environ(), raceEnv()),
		filepath.Join(systemdtest.BuildBinaries(t), "zsmgen"), "check", file)
	took := time.Since(at)
	first, _, _ := strings.Cut(out, "\n")
	t.Logf("zsmgen check: %v after %s: %s", err, took.Round(time.Millisecond), first)
	var exit *exec.ExitError
	switch {
	case err == nil:
		r.errorf(t, "zsmgen check accepted 100,000 nested parentheses")
	case strings.Contains(out, "goroutine ") || strings.Contains(out, "fatal error"):
		r.errorf(t, "zsmgen check crashed after %s: %s", took.Round(100*time.Millisecond), first)
	case !errors.As(err, &exit) || exit.ExitCode() != 1:
		r.errorf(t, "zsmgen check: %v; want exit status 1", err)
	case !strings.Contains(out, file+":"):
		r.errorf(t, "zsmgen check does not name %s:LINE:COL: %s", file, first)
	}
	if took > 2*time.Second {
		r.errorf(t, "zsmgen check took %s; want a prompt refusal", took.Round(100*time.Millisecond))
	}
	r.recovery += fmt.Sprintf("; zsmgen check answered in %s", took.Round(10*time.Millisecond))
}

// faultUnbounded: sizes far beyond the bounds, in the file and over D-Bus.
func faultUnbounded(t *testing.T, rep *reliability) {
	t.Run("pool-max", func(t *testing.T) {
		r := rep.row(t, "`pool { max = 1000000000 }` in the config", "`zsmgen check`",
			"Nothing reaches a client: `zsmgen check` refuses the file with the file:line:col of the value and its bound.")
		file := filepath.Join(t.TempDir(), "huge.hcl")
		writeFile(t, file, fmt.Sprintf(commandSite(loopback(t), `"./app"`, "  pool {\n    max = 1000000000\n  }\n"), "huge"))
		out, err := runBounded(time.Minute, "", append(os.Environ(), raceEnv()),
			filepath.Join(systemdtest.BuildBinaries(t), "zsmgen"), "check", file)
		first, _, _ := strings.Cut(out, "\n")
		r.recovery = "refused: " + shortReason(first)
		if want := file + ":6:11"; err == nil || !strings.Contains(out, want) || !strings.Contains(out, "1024") {
			r.errorf(t, "zsmgen check: %v; want a failure at %s naming the bound 1024:\n%s", err, want, out)
		}
	})
	t.Run("setpool", func(t *testing.T) {
		r := rep.row(t, "D-Bus `SetPool(1, 4000000000)`", "4 clients, a new connection per request",
			"Nothing: the call fails with the bound, the pool stays as it was and every request gets 200.")
		setPoolHuge(t, r)
	})
}

// setPoolHuge calls SetPool with a max far beyond the bounds under load.
func setPoolHuge(t *testing.T, r *row) {
	addr := loopback(t)
	name, _ := faultSite(t, "setpool", helloSite(t, addr, ""))
	expectHello(t, "tcp", addr)
	conn, err := busapi.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	tr := startTraffic(t, addr, 4, 0)
	tr.progress(t, 50)
	callErr := busapi.Call(conn, name, "SetPool", uint32(1), uint32(4000000000))
	tr.progress(t, 50)
	tl := tr.end()
	r.fill(tl)
	r.expectAnswered(t, tl)
	if tl.count(sawOK) != tl.total() {
		r.errorf(t, "requests failed around SetPool: %s", tl)
	}
	if callErr == nil {
		r.errorf(t, "SetPool(1, 4000000000) was accepted")
		return
	}
	r.recovery = "refused: " + shortReason(callErr.Error())
	st, err := siteStatus(name)
	if err != nil || len(st.Workers) > 4 {
		r.errorf(t, "after SetPool: %d workers, %v", len(st.Workers), err)
	}
}
