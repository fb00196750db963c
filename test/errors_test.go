package test

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/zsm-dev/zsm/internal/busapi"
	"github.com/zsm-dev/zsm/test/systemdtest"
)

// TestErrorsInEverySurface: when the app cannot start, the 503 body, the
// STATUS line, the D-Bus LastError and the journal all say which site, which
// command, and why.
func TestErrorsInEverySurface(t *testing.T) {
	systemdtest.Require(t)
	port := freePort(t)
	s := enable(t, "noapp", `site "%s" {
  listen   = ["127.0.0.1:`+fmt.Sprint(port)+`"]
  protocol = "http"
  command  = ["./no-such-app", "--serve"]
}`)
	const why = "no such file or directory"
	const which = "cannot start ./no-such-app"

	// 1. The client: a 503 naming the site, the command and the cause.
	code, body, err := get("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil || code != 503 {
		t.Fatalf("request: %d %q %v; want a 503", code, body, err)
	}
	for _, want := range []string{s.name, which, why} {
		if !strings.Contains(body, want) {
			t.Errorf("503 body %q does not say %q", body, want)
		}
	}

	// 2. systemctl status: the STATUS= line.
	svc := "zsm@" + s.name + ".service"
	systemdtest.Eventually(t, 10*time.Second, "the reason in StatusText", func() bool {
		out, _ := exec.Command("systemctl", "--user", "show", "-p", "StatusText", "--value", svc).Output()
		return strings.Contains(string(out), which) && strings.Contains(string(out), why)
	})

	// 3. D-Bus: LastError.
	conn, err := busapi.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	name, path := busapi.Names(s.name)
	systemdtest.Eventually(t, 10*time.Second, "the reason in the LastError property", func() bool {
		st, err := busapi.Get(conn, name, path)
		return err == nil && strings.Contains(st.LastError, which) && strings.Contains(st.LastError, why)
	})

	// The Error signal says it too, on the next attempt.
	if err := conn.AddMatchSignal(dbus.WithMatchObjectPath(path), dbus.WithMatchMember("Error")); err != nil {
		t.Fatal(err)
	}
	sigs := make(chan *dbus.Signal, 16)
	conn.Signal(sigs)
	// The breaker answers at once after a few failures; either way the
	// client gets a 503 and the broker logs why.
	get("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	select {
	case sig := <-sigs:
		if msg := fmt.Sprint(sig.Body...); !strings.Contains(msg, "./no-such-app") && !strings.Contains(msg, why) {
			t.Errorf("Error signal %q does not say what failed", msg)
		}
	case <-time.After(15 * time.Second):
		t.Error("no Error signal")
	}

	// 4. The journal: an error entry of the site with the command and cause.
	systemdtest.Eventually(t, 10*time.Second, "the reason in the journal", func() bool {
		for _, e := range journalEntries(t, "--user-unit="+svc, "ZSM_SITE="+s.name, "ZSM_EVENT=start-failed") {
			if e["PRIORITY"] == "3" && strings.Contains(e["ZSM_ERROR"], why) && strings.Contains(e["MESSAGE"], "./no-such-app") {
				return true
			}
		}
		return false
	})
}
