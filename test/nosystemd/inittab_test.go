package nosystemd_test

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// syslogd is a syslog daemon's socket: what the broker logs with
// --log syslog:PATH, as it would to /dev/log.
type syslogd struct {
	path string
	mu   sync.Mutex
	msgs []string
}

func listenSyslog(t *testing.T, path string) *syslogd {
	t.Helper()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(path, 0o666) // anyone may log, as with /dev/log
	s := &syslogd{path: path}
	done := make(chan struct{})
	go func() {
		defer close(done)
		b := make([]byte, 8192)
		for {
			n, err := c.Read(b)
			if err != nil {
				return
			}
			s.mu.Lock()
			s.msgs = append(s.msgs, string(b[:n]))
			s.mu.Unlock()
		}
	}()
	t.Cleanup(func() { c.Close(); <-done })
	return s
}

// has says whether a message matches re.
func (s *syslogd) has(re *regexp.Regexp) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.msgs {
		if re.MatchString(m) {
			return true
		}
	}
	return false
}

// The inittab line zsmgen writes, run as init runs it: the broker in the
// foreground as the site's user, serving, its events in syslog; init's
// SIGTERM stops it and its pid file goes.
func TestInittab(t *testing.T) {
	// As the user running the test: with runuser the line would not fit
	// in 127 characters with test paths (TestRCScript covers su).
	h := newHost(t, "it", false)
	logd := listenSyslog(t, filepath.Join(h.dir, "l"))
	// The default pid file, relative: in the runtime directory.
	h.pidfile = filepath.Join(h.dir, "tmp", "zsm-"+strconv.Itoa(h.uid), "it.pid")
	out := h.zsmgen("inittab", "--user", h.user, "--zsm", filepath.Join(h.dir, "zsm"),
		"--runlevels", "35", "--log", "syslog:"+logd.path, h.config)
	var entries []string
	for l := range strings.Lines(out) {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			entries = append(entries, l)
		}
	}
	if len(entries) != 1 {
		t.Fatalf("want one inittab entry, got:\n%s", out)
	}
	f := strings.SplitN(entries[0], ":", 4)
	if len(f) != 4 || !regexp.MustCompile(`^[0-9A-Za-z]{1,4}$`).MatchString(f[0]) || f[1] != "35" || f[2] != "respawn" {
		t.Fatalf("not an inittab entry (id:runlevels:respawn:process): %q", entries[0])
	}

	// sysvinit runs a process field with shell characters as sh -c "exec ...".
	cmd := exec.Command("/bin/sh", "-c", "exec "+f[3])
	cmd.Env = h.env
	var said strings.Builder
	cmd.Stdout, cmd.Stderr = &said, &said
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	eventually(t, wait, "the inittab entry to serve", func() bool {
		code, _, err := h.get()
		return err == nil && code == 200
	})
	h.serves()
	pid := h.brokerPid()
	if pid == 0 || uidOf(t, pid) != h.uid {
		t.Fatalf("pid file names %d, which should run as %s", pid, h.user)
	}
	for _, ev := range []string{`zsm\[\d+\]: no sockets passed by systemd: bound them site=it`, `zsm\[\d+\]: worker ready site=it`, `it\[\d+\]: hello: serving`} {
		re := regexp.MustCompile(`^<\d+>\w{3} [ \d]\d \d\d:\d\d:\d\d ` + ev)
		eventually(t, wait, "syslog to get "+ev, func() bool { return logd.has(re) })
	}
	if s := said.String(); s != "" {
		t.Errorf("the broker wrote to the console although syslog runs: %q", s)
	}

	// Leaving the runlevel: init sends SIGTERM.
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(wait):
		t.Fatal("the inittab entry did not end on SIGTERM")
	}
	eventually(t, wait, "the broker to exit", func() bool { return !alive(pid) })
	if _, err := os.Stat(h.pidfile); !os.IsNotExist(err) {
		t.Errorf("pid file after SIGTERM: %v", err)
	}
	eventually(t, wait, "syslog to say the broker stopped", func() bool {
		return logd.has(regexp.MustCompile(`zsm\[\d+\]: stopping site=it `))
	})
}

// The crontab lines, for a user without root: @reboot starts the broker,
// the watchdog line leaves a live one alone and starts a dead one again.
func TestCrontab(t *testing.T) {
	h := newHost(t, "cron", false)
	out := h.zsmgen("crontab", "--zsm", filepath.Join(h.bin, "zsm"), "--pidfile-dir", filepath.Dir(h.pidfile),
		"--log", h.log, h.config)
	var reboot, watchdog string
	for l := range strings.Lines(out) {
		l = strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(l, "@reboot "):
			reboot = strings.TrimPrefix(l, "@reboot ")
		case strings.HasPrefix(l, "* * * * * "):
			watchdog = strings.TrimPrefix(l, "* * * * * ")
		case l == "" || strings.HasPrefix(l, "#"):
		default:
			t.Errorf("unexpected crontab line %q", l)
		}
	}
	if reboot == "" || watchdog == "" {
		t.Fatalf("want an @reboot and a watchdog line, got:\n%s", out)
	}
	// As cron runs a command: sh -c, with "\%" standing for "%".
	cron := func(line string) {
		t.Helper()
		said, code := h.run("/bin/sh", "-c", strings.ReplaceAll(line, `\%`, "%"))
		if code != 0 || said != "" {
			t.Fatalf("%q: exit %d, said %q (cron would mail it)", line, code, said)
		}
	}
	cron(reboot)
	pid := h.brokerPid()
	if pid == 0 || !alive(pid) {
		t.Fatalf("after @reboot: pid file names %d", pid)
	}
	h.serves()

	cron(watchdog)
	if p := h.brokerPid(); p != pid {
		t.Fatalf("the watchdog line replaced a live broker: %d, was %d", p, pid)
	}
	syscall.Kill(pid, syscall.SIGKILL)
	eventually(t, wait, "the broker to die", func() bool { return !alive(pid) })
	cron(watchdog)
	pid2 := h.brokerPid()
	if pid2 == pid || !alive(pid2) {
		t.Fatalf("the watchdog line did not start a dead broker again: pid file names %d", pid2)
	}
	eventually(t, wait, "the restarted broker to serve", func() bool {
		code, _, err := h.get()
		return err == nil && code == 200
	})
	syscall.Kill(pid2, syscall.SIGTERM)
	eventually(t, wait, "the broker to stop", func() bool { return !alive(pid2) })
}
