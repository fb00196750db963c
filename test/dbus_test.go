package test

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/zsm-dev/zsm/internal/busapi"
	"github.com/zsm-dev/zsm/internal/status"
	"github.com/zsm-dev/zsm/test/systemdtest"
)

// TestDBus: a running site is an object on the user's session bus:
// introspectable, with properties that change (PropertiesChanged), signals
// for its workers, and the methods Reload, SetPool and Drain; `zsm status`
// lists it from the bus.
func TestDBus(t *testing.T) {
	systemdtest.Require(t)
	bin := systemdtest.BuildBinaries(t)
	port := freePort(t)
	s := enable(t, "bus", `site "%s" {
  listen   = ["127.0.0.1:`+fmt.Sprint(port)+`"]
  protocol = "http"
  command  = ["`+helloWorker(t, bin)+`"]
  pool {
    min_idle = 1
    max      = 4
  }
}`)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if code, _, err := get("tcp", addr); err != nil || code != 200 {
		t.Fatalf("request: %d %v", code, err)
	}
	conn, err := busapi.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	name, path := busapi.Names(s.name)

	var st status.Site
	systemdtest.Eventually(t, 10*time.Second, "the site's properties on the bus", func() bool {
		st, err = busapi.Get(conn, name, path)
		return err == nil && st.State == "running" && st.Served >= 1 && len(st.Workers) > 0
	})
	if st.Site != s.name || st.Mode != "handoff" || st.Breaker != "closed" {
		t.Errorf("properties: %+v", st)
	}
	for _, w := range st.Workers {
		if w.Pid == 0 || w.Started == 0 || w.RSS == 0 || w.State == "" {
			t.Errorf("worker %+v lacks a field", w)
		}
	}
	// What the site is doing now: its socket's accept queue, and how long
	// the connections so far waited (issue 19).
	if len(st.Listeners) != 1 || st.Listeners[0].Backlog == 0 {
		t.Errorf("Listeners: %+v, want the site's socket with its backlog", st.Listeners)
	}
	if st.QueueWait.Count() < 1 || st.HandoffLatency.Count() < 1 || len(st.QueueWait.Counts) != len(st.QueueWait.Bounds)+1 {
		t.Errorf("QueueWait %+v, HandoffLatency %+v: want the connections served", st.QueueWait, st.HandoffLatency)
	}

	// Introspection shows it all.
	out, err := exec.Command("busctl", "--user", "introspect", name, string(path)).CombinedOutput()
	if err != nil {
		t.Fatalf("busctl introspect: %v\n%s", err, out)
	}
	for _, want := range []string{busapi.Interface, ".Reload", ".SetPool", ".Drain", ".WorkerStarted", ".WorkerExited", ".Error", ".Workers", ".State", ".LastError",
		".Listeners", ".QueueWait", ".HandoffLatency", "a(suu)", "(adatd)"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("busctl introspect lacks %s:\n%s", want, out)
		}
	}

	// Signals: PropertiesChanged and WorkerStarted when SetPool grows the pool.
	if err := conn.AddMatchSignal(dbus.WithMatchObjectPath(path)); err != nil {
		t.Fatal(err)
	}
	sigs := make(chan *dbus.Signal, 64)
	conn.Signal(sigs)
	st, err = busapi.Get(conn, name, path)
	if err != nil || len(st.Workers) >= 3 {
		t.Fatalf("before SetPool: %d workers, %v", len(st.Workers), err)
	}
	want := 3 - len(st.Workers)
	if err := busapi.Call(conn, s.name, "SetPool", uint32(3), uint32(3)); err != nil {
		t.Fatalf("SetPool: %v", err)
	}
	started, changed := 0, false
	deadline := time.After(15 * time.Second)
	for started < want || !changed {
		select {
		case sig := <-sigs:
			switch sig.Name {
			case busapi.Interface + ".WorkerStarted":
				started++
			case "org.freedesktop.DBus.Properties.PropertiesChanged":
				if m, ok := sig.Body[1].(map[string]dbus.Variant); ok {
					if _, ok := m["Workers"]; ok {
						changed = true
					}
				}
			}
		case <-deadline:
			t.Fatalf("after SetPool(3, 3): %d WorkerStarted signals (want %d), Workers changed: %v", started, want, changed)
		}
	}
	if err := busapi.Call(conn, s.name, "SetPool", uint32(5), uint32(2)); err == nil {
		t.Error("SetPool(5, 2) was accepted")
	}

	// Reload over the bus: a new generation.
	if err := busapi.Call(conn, s.name, "Reload"); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	systemdtest.Eventually(t, 10*time.Second, "generation 1", func() bool {
		st, err = busapi.Get(conn, name, path)
		return err == nil && st.Generation == 1
	})

	// zsm status, as a table and as JSON.
	zsm := filepath.Join(bin, "zsm")
	out, err = exec.Command(zsm, "status").CombinedOutput()
	if err != nil || !strings.Contains(string(out), s.name) || !strings.Contains(string(out), "running") {
		t.Errorf("zsm status: %v\n%s", err, out)
	}
	out, err = exec.Command(zsm, "status", "--json", s.name).Output()
	var list []status.Site
	if err != nil || json.Unmarshal(out, &list) != nil || len(list) != 1 || list[0].Site != s.name {
		t.Errorf("zsm status --json %s: %v\n%s", s.name, err, out)
	}

	// zsm drain: the workers go (WorkerExited for each); the next
	// connection starts them again.
	for len(sigs) > 0 {
		<-sigs
	}
	if out, err := exec.Command(zsm, "drain", s.name).CombinedOutput(); err != nil {
		t.Fatalf("zsm drain: %v\n%s", err, out)
	}
	exited := 0
	deadline = time.After(15 * time.Second)
	for exited == 0 {
		select {
		case sig := <-sigs:
			if sig.Name == busapi.Interface+".WorkerExited" {
				if len(sig.Body) != 2 || !strings.Contains(fmt.Sprint(sig.Body[1]), "exited with status 0") {
					t.Errorf("WorkerExited %v: want the pid and the exit status", sig.Body)
				}
				exited++
			}
		case <-deadline:
			t.Fatal("no WorkerExited signal after Drain")
		}
	}
	systemdtest.Eventually(t, 10*time.Second, "no worker after Drain", func() bool {
		st, err = busapi.Get(conn, name, path)
		return err == nil && len(st.Workers) == 0
	})
	if code, _, err := get("tcp", addr); err != nil || code != 200 {
		t.Errorf("after Drain: %d %v", code, err)
	}
}
