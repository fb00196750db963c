package broker

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zsm-dev/zsm/internal/config"
)

// readInfo waits for an "env" worker's report.
func readInfo(t *testing.T, path string) workerInfo {
	t.Helper()
	var info workerInfo
	eventually(t, 10*time.Second, "the worker's report", func() bool {
		b, err := os.ReadFile(path)
		return err == nil && json.Unmarshal(b, &info) == nil
	})
	return info
}

func envOf(info workerInfo) map[string]string {
	m := map[string]string{}
	for _, kv := range info.Env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

// TestWorkerEnvironment: workers run in the site's directory, with its
// environment, in their own process group, with a clean activation
// environment for their mode.
func TestWorkerEnvironment(t *testing.T) {
	// What the broker itself was started with must not leak to workers.
	t.Setenv("LISTEN_PIDFDID", "12345")
	t.Setenv("NOTIFY_SOCKET", "/run/user/0/systemd/notify")
	t.Setenv("ZSM_CONFIG", "/etc/zsm/site.hcl")

	for _, mode := range []config.Mode{config.Handoff, config.Listen} {
		t.Run(string(mode), func(t *testing.T) {
			kind := map[config.Mode]string{config.Handoff: "env", config.Listen: "listen-env"}[mode]
			s := testSite(t, mode, kind)
			out := filepath.Join(t.TempDir(), "info.json")
			s.Environment["ZSM_TEST_OUT"] = out
			s.Environment["APP_ENV"] = "prod"
			s.Pool = config.Pool{MinIdle: 1, Max: 1, Queue: 16}
			r := start(t, s, nil)
			if code, _, err := get(r.addr, "/"); err != nil || code != 200 {
				t.Fatalf("request: %d %v", code, err)
			}
			info := readInfo(t, out)
			env := envOf(info)
			if info.Dir != s.Directory {
				t.Errorf("worker runs in %s, want the site's directory %s", info.Dir, s.Directory)
			}
			if info.Pgid != info.Pid {
				t.Errorf("worker's process group %d is not its own (pid %d)", info.Pgid, info.Pid)
			}
			if env["APP_ENV"] != "prod" {
				t.Errorf("site environment missing: APP_ENV=%q", env["APP_ENV"])
			}
			for _, k := range []string{"LISTEN_PIDFDID", "ZSM_CONFIG"} {
				if v, ok := env[k]; ok {
					t.Errorf("worker inherited the broker's %s=%q", k, v)
				}
			}
			switch mode {
			case config.Handoff:
				if env["ZSM_CHANNEL_FD"] != "3" || env["ZSM_PROTOCOL"] != "1" {
					t.Errorf("handoff worker: ZSM_CHANNEL_FD=%q ZSM_PROTOCOL=%q", env["ZSM_CHANNEL_FD"], env["ZSM_PROTOCOL"])
				}
				for _, k := range []string{"LISTEN_FDS", "LISTEN_PID", "NOTIFY_SOCKET"} {
					if v, ok := env[k]; ok {
						t.Errorf("handoff worker has %s=%q", k, v)
					}
				}
			case config.Listen:
				if env["LISTEN_PID"] != strconv.Itoa(info.Pid) {
					t.Errorf("LISTEN_PID=%q, want the worker's own pid %d", env["LISTEN_PID"], info.Pid)
				}
				if env["LISTEN_FDS"] != "1" || env["LISTEN_FDNAMES"] != s.Name {
					t.Errorf("LISTEN_FDS=%q LISTEN_FDNAMES=%q, want 1 and %q", env["LISTEN_FDS"], env["LISTEN_FDNAMES"], s.Name)
				}
				if !strings.HasPrefix(env["NOTIFY_SOCKET"], "@zsm/") {
					t.Errorf("NOTIFY_SOCKET=%q, want the broker's own socket", env["NOTIFY_SOCKET"])
				}
			}
		})
	}
}

// TestNotifyOnlyFromWorkers: the listen-mode notify socket takes READY=1
// only from the broker's own workers, checked by the sender's pid.
func TestNotifyOnlyFromWorkers(t *testing.T) {
	s := testSite(t, config.Listen, "listen-silent")
	out := filepath.Join(t.TempDir(), "info.json")
	s.Environment["ZSM_TEST_OUT"] = out
	s.Eager = true
	s.Pool = config.Pool{MinIdle: 1, Max: 1, Queue: 16}
	s.Timeouts.Stop = time.Second
	r := start(t, s, nil)
	addr := envOf(readInfo(t, out))["NOTIFY_SOCKET"]
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// A flood: one line in the log for it, not one per datagram.
	const flood = 200
	for range flood {
		if _, err := c.Write([]byte("READY=1\n")); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 5*time.Second, "the broker to ignore READY=1 from a stranger", func() bool {
		return strings.Contains(r.log.String(), "not a worker")
	})
	if st := r.b.Stats(); st.Ready != 0 {
		t.Errorf("a stranger's READY=1 made %d workers ready", st.Ready)
	}
	// The rest of the flood is read, and counted, not logged.
	eventually(t, 5*time.Second, "the flood read", func() bool {
		var n int
		r.b.inspect(context.Background(), func(p *pool) { n = p.ignoredSince })
		return n == flood-1
	})
	if n := strings.Count(r.log.String(), "not a worker"); n != 1 {
		t.Errorf("%d datagrams from a stranger logged %d lines; want 1", flood, n)
	}
	if err := r.stop(); err != nil {
		t.Errorf("Run: %v", err)
	}
}

// TestProxyFailover: a backend that dies is replaced, and connections go to
// the live one meanwhile; none fails.
func TestProxyFailover(t *testing.T) {
	s := testSite(t, config.Proxy, "backend")
	r := start(t, s, nil)
	if code, _, err := get(r.addr, "/"); err != nil || code != 200 {
		t.Fatalf("warm-up: %d %v", code, err)
	}
	eventually(t, 10*time.Second, "both backends ready", func() bool { return r.b.Stats().Ready == 2 })

	// Kill one backend: the body names the pid that answered.
	_, body, err := get(r.addr, "/")
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(body, "hello from ")))
	if err != nil {
		t.Fatalf("body %q: %v", body, err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// A connection handed to it in the instant before it died is inside
	// the dead process, as with any crash; from the moment the broker sees
	// the exit, connections go to the live backend.
	eventually(t, 10*time.Second, "the broker to see the backend exit", func() bool { return r.b.Stats().Restarts == 1 })
	var pids []int
	for i := range 50 {
		code, body, err := get(r.addr, "/")
		if err != nil || code != 200 {
			t.Fatalf("request %d after killing backend %d: %d %q %v", i, pid, code, body, err)
		}
		p, _ := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(body, "hello from ")))
		pids = append(pids, p)
	}
	if slices.Contains(pids, pid) {
		t.Errorf("the killed backend %d still answered", pid)
	}
	eventually(t, 10*time.Second, "the dead backend replaced", func() bool {
		st := r.b.Stats()
		return st.Ready == 2 && st.Spawned == 3 && st.Restarts == 1
	})
	if st := r.b.Stats(); st.Failed != 0 || st.Shed != 0 {
		t.Errorf("failed %d shed %d, want none", st.Failed, st.Shed)
	}
}

// TestReadyAfterStopIsNoViolation: a worker stopped while it starts may say
// READY=1 before it reads the end of its channel; that is not a protocol
// error, and it exits cleanly.
func TestReadyAfterStopIsNoViolation(t *testing.T) {
	s := testSite(t, config.Handoff, "late-ready")
	out := filepath.Join(t.TempDir(), "info.json")
	s.Environment["ZSM_TEST_OUT"] = out
	s.Eager = true
	s.Pool = config.Pool{MinIdle: 1, Max: 1, Queue: 16}
	r := start(t, s, nil)
	pid := readInfo(t, out).Pid
	stopped := make(chan error, 1)
	go func() { stopped <- r.stop() }()
	eventually(t, 5*time.Second, "the broker to end the worker's channel", func() bool {
		return strings.Contains(r.log.String(), "stopping worker")
	})
	if err := syscall.Kill(pid, syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	if err := <-stopped; err != nil {
		t.Errorf("Run: %v", err)
	}
	log := r.log.String()
	if strings.Contains(log, "broke the protocol") {
		t.Errorf("a worker stopped while starting was called a protocol breaker:\n%s", log)
	}
	if !strings.Contains(log, "exited with status 0") {
		t.Errorf("the worker did not exit cleanly:\n%s", log)
	}
}
