package test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zsm-dev/zsm/test/systemdtest"
)

// TestBrokerWatchdog: under WatchdogSec= the broker keeps telling systemd it
// is alive (WATCHDOG=1), so systemd's watchdog timestamp keeps moving and
// the service is not killed.
func TestBrokerWatchdog(t *testing.T) {
	systemdtest.Require(t)
	bin := systemdtest.BuildBinaries(t)
	port := freePort(t)
	s := enable(t, "watchdog", `site "%s" {
  listen   = ["127.0.0.1:`+fmt.Sprint(port)+`"]
  protocol = "http"
  command  = ["`+helloWorker(t, bin)+`"]
}`)
	svc := "zsm@" + s.name + ".service"
	// A short watchdog, so the test sees several pings.
	dropin := filepath.Join(os.Getenv("XDG_CONFIG_HOME"), "systemd", "user", svc+".d", "watchdog.conf")
	if err := os.MkdirAll(filepath.Dir(dropin), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dropin, []byte("[Service]\nWatchdogSec=2s\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	systemdtest.Systemctl(t, "daemon-reload")
	if code, _, err := get("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err != nil || code != 200 {
		t.Fatalf("request: %d %v", code, err)
	}
	stamp := func() string {
		out, _ := exec.Command("systemctl", "--user", "show", "-p", "WatchdogTimestampMonotonic", "--value", svc).Output()
		return strings.TrimSpace(string(out))
	}
	seen := map[string]bool{}
	systemdtest.Eventually(t, 10*time.Second, "three different watchdog timestamps", func() bool {
		if v := stamp(); v != "" && v != "0" {
			seen[v] = true
		}
		return len(seen) >= 3
	})
	if n := showValue(t, svc, "NRestarts"); n != "0" {
		t.Errorf("the broker was restarted %s times under its watchdog", n)
	}
	if code, _, err := get("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err != nil || code != 200 {
		t.Errorf("after the watchdog pings: %d %v", code, err)
	}
}
