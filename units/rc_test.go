package units

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// rcScripts are the fixture's rc scripts, and one with values that need
// quoting everywhere.
func rcScripts(t *testing.T) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for name, content := range sysvGolden(t) {
		if strings.HasPrefix(name, "rc/") {
			out[name] = []byte(content)
		}
	}
	odd, err := RC(site("odd.site_1", tcp("", 80)), SysvOptions{
		ZSM: `/opt/$(id)/it's "zsm"`, Config: "/srv/`x` ~/a\\b;c&d|e*.hcl", User: "ann", UID: 1000, PidfileDir: "/run/my pids",
	})
	if err != nil {
		t.Fatal(err)
	}
	out["odd"] = odd
	return out
}

// TestRCLint checks every rc script with sh -n, and with shellcheck and
// checkbashisms where they are installed. Each check is first shown to
// fail on a script with a bashism.
func TestRCLint(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(bad, []byte("#!/bin/sh\nif [[ $1 == a ]]; then echo ${x/a/b}; fi\nfoo() {\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	checks := [][]string{{"sh", "-n"}}
	for _, c := range [][]string{{"shellcheck", "-s", "sh"}, {"checkbashisms", "--posix", "--force"}} {
		if _, err := exec.LookPath(c[0]); err != nil {
			t.Logf("%s is not installed: not run", c[0])
			continue
		}
		checks = append(checks, c)
	}
	for _, c := range checks {
		if out, err := exec.Command(c[0], append(c[1:], bad)...).CombinedOutput(); err == nil {
			t.Errorf("%s passes a script with bashisms:\n%s", strings.Join(c, " "), out)
		}
	}
	for name, content := range rcScripts(t) {
		p := filepath.Join(dir, strings.ReplaceAll(name, "/", "_"))
		if err := os.WriteFile(p, content, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, c := range checks {
			if out, err := exec.Command(c[0], append(c[1:], p)...).CombinedOutput(); err != nil {
				t.Errorf("%s %s: %v\n%s", strings.Join(c, " "), name, err, out)
			}
		}
	}
}

// TestRCHeader checks the LSB comment block: the keywords init script
// tools (insserv, update-rc.d, chkconfig) read.
func TestRCHeader(t *testing.T) {
	script := rcScripts(t)["rc/zsm-blog"]
	block, ok := strings.CutPrefix(string(script), "#!/bin/sh\n### BEGIN INIT INFO\n")
	if !ok {
		t.Fatalf("no shebang and LSB block at the top:\n%s", script)
	}
	block, _, ok = strings.Cut(block, "### END INIT INFO\n")
	if !ok {
		t.Fatal("no END INIT INFO")
	}
	got := map[string]string{}
	key := ""
	for _, line := range strings.Split(strings.TrimSuffix(block, "\n"), "\n") {
		if rest, ok := strings.CutPrefix(line, "#  "); ok && key != "" { // continuation: "#" and 2+ blanks
			got[key] += " " + strings.TrimSpace(rest)
			continue
		}
		k, v, ok := strings.Cut(strings.TrimPrefix(line, "# "), ":")
		if !ok || !strings.HasPrefix(line, "# ") {
			t.Fatalf("not an LSB keyword line: %q", line)
		}
		key = k
		got[k] = strings.TrimSpace(v)
	}
	want := map[string]string{
		"Provides":          "zsm-blog",
		"Required-Start":    "$local_fs $network $remote_fs $syslog",
		"Required-Stop":     "$local_fs $network $remote_fs $syslog",
		"Default-Start":     "2 3 4 5",
		"Default-Stop":      "0 1 6",
		"Short-Description": "zsm broker of site blog",
		"Description":       "The zsm broker of site blog: binds the site's sockets and runs its app server's workers.",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("LSB header (-want +got):\n%s", diff)
	}
}

// rcEnv is the environment the rc script runs with: an XDG_RUNTIME_DIR
// that must not reach the broker, as from an admin's root shell.
func rcEnv(extra ...string) []string {
	return append([]string{"PATH=/usr/bin:/bin", "XDG_RUNTIME_DIR=/run/user/0"}, extra...)
}

// writeRC writes site blog's rc script for opt into dir and returns its path.
func writeRC(t *testing.T, dir string, opt SysvOptions, stop string) string {
	t.Helper()
	s := site("blog", tcp("", 80))
	s.Timeouts.Stop = 0
	if opt.Config == "" {
		opt.Config = "/etc/zsm.hcl"
	}
	script, err := RC(s, opt)
	if err != nil {
		t.Fatal(err)
	}
	if stop != "" {
		// A stop timeout in tenths of a second, to see SIGKILL soon.
		script = []byte(strings.Replace(string(script), "\nSTOP_WAIT=50\n", "\nSTOP_WAIT="+stop+"\n", 1))
	}
	p := filepath.Join(dir, "zsm-blog")
	if err := os.WriteFile(p, script, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// runRC runs the script and returns its exit code and outputs.
func runRC(t *testing.T, script string, env []string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command("/bin/sh", append([]string{script}, args...)...)
	cmd.Env = env
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, stdout.String(), stderr.String()
	case errors.As(err, &ee) && ee.Exited():
		return ee.ExitCode(), stdout.String(), stderr.String()
	default:
		t.Fatalf("%s %v: %v", script, args, err)
		return 0, "", ""
	}
}

// fakeBroker starts a shell script at dir/zsm (so that /proc shows "zsm"
// in its command line) in its own process group, and returns once it
// says it has set its traps. HUP makes it exit 42, TERM exit 0, unless
// ignoreTerm.
func fakeBroker(t *testing.T, dir string, ignoreTerm bool) *exec.Cmd {
	t.Helper()
	term := `trap 'kill $! 2>/dev/null; exit 0' TERM`
	if ignoreTerm {
		term = `trap '' TERM`
	}
	p := filepath.Join(dir, "zsm")
	script := "#!/bin/sh\ntrap 'kill $! 2>/dev/null; exit 42' HUP\n" + term + "\nsleep 1000 &\necho ready\nwait\n"
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(p)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	})
	if line, err := bufio.NewReader(out).ReadString('\n'); line != "ready\n" {
		t.Fatalf("fake broker: %q, %v", line, err)
	}
	return cmd
}

// liveInGroup lists the processes of process group pgid that are not
// zombies, from /proc/PID/stat.
func liveInGroup(t *testing.T, pgid int) []string {
	t.Helper()
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		t.Fatal(err)
	}
	var live []string
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // gone since
		}
		// pid (comm) state ppid pgrp ...; comm may hold spaces and parens.
		i := strings.LastIndexByte(string(b), ')')
		f := strings.Fields(string(b[i+1:]))
		if len(f) > 2 && f[2] == strconv.Itoa(pgid) && f[0] != "Z" {
			live = append(live, string(b[:i+1]))
		}
	}
	return live
}

func writePid(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func currentUser(t *testing.T) (string, int) {
	t.Helper()
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		t.Fatal(err)
	}
	return u.Username, uid
}

type rcRun struct {
	args        []string
	code        int
	stdout      string // a substring of stdout
	stderr      string // a substring of stderr
	pidfileGone bool
}

func checkRuns(t *testing.T, script, pidfile string, runs ...rcRun) {
	t.Helper()
	for _, r := range runs {
		code, stdout, stderr := runRC(t, script, rcEnv(), r.args...)
		if code != r.code || !strings.Contains(stdout, r.stdout) || !strings.Contains(stderr, r.stderr) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit %d, stdout with %q, stderr with %q",
				r.args, code, stdout, stderr, r.code, r.stdout, r.stderr)
		}
		if r.pidfileGone && exists(pidfile) {
			t.Errorf("%v left the pid file", r.args)
		}
	}
}

// TestRCStatus runs the script's status, stop and reload against pid
// files that name no broker: none, garbage, a dead pid, a live process
// that is not a zsm.
func TestRCStatus(t *testing.T) {
	name, uid := currentUser(t)
	opt := SysvOptions{ZSM: "/usr/bin/zsm", User: name, UID: uid}

	t.Run("no pid file", func(t *testing.T) {
		dir := t.TempDir()
		opt.PidfileDir = dir
		script := writeRC(t, dir, opt, "")
		checkRuns(t, script, opt.PidFile("blog"),
			rcRun{args: []string{"status"}, code: 3, stdout: "zsm-blog is not running\n"},
			rcRun{args: []string{"stop"}, code: 0, stdout: "zsm-blog is not running\n"},
			rcRun{args: []string{"reload"}, code: 7, stderr: "zsm-blog is not running\n"},
			rcRun{args: []string{"force-reload"}, code: 7, stderr: "zsm-blog is not running\n"},
		)
	})
	t.Run("no pid file directory", func(t *testing.T) {
		dir := t.TempDir()
		opt.PidfileDir = filepath.Join(dir, "missing")
		script := writeRC(t, dir, opt, "")
		checkRuns(t, script, opt.PidFile("blog"), rcRun{args: []string{"status"}, code: 3, stdout: "is not running"})
	})
	for _, garbage := range []string{"abc\n", "", "0\n", "12 34\n", "-1\n", "007\n"} {
		t.Run("pid file holding "+strconv.Quote(garbage), func(t *testing.T) {
			dir := t.TempDir()
			opt.PidfileDir = dir
			script := writeRC(t, dir, opt, "")
			pidfile := opt.PidFile("blog")
			writePid(t, pidfile, garbage)
			checkRuns(t, script, pidfile,
				rcRun{args: []string{"status"}, code: 4, stderr: "holds no pid"},
				rcRun{args: []string{"reload"}, code: 7, stderr: "is not running"},
				rcRun{args: []string{"stop"}, code: 0, stdout: "is not running", pidfileGone: true},
			)
		})
	}
	t.Run("dead pid", func(t *testing.T) {
		dir := t.TempDir()
		opt.PidfileDir = dir
		script := writeRC(t, dir, opt, "")
		pidfile := opt.PidFile("blog")
		done := exec.Command("true")
		if err := done.Run(); err != nil {
			t.Fatal(err)
		}
		pid := strconv.Itoa(done.Process.Pid)
		writePid(t, pidfile, pid+"\n")
		checkRuns(t, script, pidfile,
			rcRun{args: []string{"status"}, code: 1, stdout: "zsm-blog is not running, but " + pidfile + " names pid " + pid},
			rcRun{args: []string{"reload"}, code: 7},
			rcRun{args: []string{"stop"}, code: 0, stdout: "is not running", pidfileGone: true},
			rcRun{args: []string{"status"}, code: 3},
		)
	})
	t.Run("live process that is not a zsm", func(t *testing.T) {
		dir := t.TempDir()
		opt.PidfileDir = dir
		script := writeRC(t, dir, opt, "")
		pidfile := opt.PidFile("blog")
		other := exec.Command("sleep", "1000")
		if err := other.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { other.Process.Kill(); other.Wait() })
		writePid(t, pidfile, strconv.Itoa(other.Process.Pid)+"\n")
		checkRuns(t, script, pidfile,
			rcRun{args: []string{"status"}, code: 1, stdout: "is not running, but"},
			rcRun{args: []string{"reload"}, code: 7},
			rcRun{args: []string{"stop"}, code: 0, stdout: "is not running", pidfileGone: true},
		)
		if err := other.Process.Signal(syscall.Signal(0)); err != nil {
			t.Errorf("stop signalled a process that is not a zsm: %v", err)
		}
	})
	t.Run("usage", func(t *testing.T) {
		dir := t.TempDir()
		opt.PidfileDir = dir
		script := writeRC(t, dir, opt, "")
		checkRuns(t, script, "",
			rcRun{args: nil, code: 2, stderr: "usage: " + script + " {start|stop|restart|reload|force-reload|status}"},
			rcRun{args: []string{"bogus"}, code: 2, stderr: "usage:"},
		)
	})
}

// TestRCLiveBroker runs status, reload and stop against a fake broker: a
// process whose command line says zsm.
func TestRCLiveBroker(t *testing.T) {
	name, uid := currentUser(t)
	opt := SysvOptions{ZSM: "/usr/bin/zsm", User: name, UID: uid}

	t.Run("reload", func(t *testing.T) {
		dir := t.TempDir()
		opt.PidfileDir = dir
		script := writeRC(t, dir, opt, "")
		b := fakeBroker(t, dir, false)
		pid := strconv.Itoa(b.Process.Pid)
		writePid(t, opt.PidFile("blog"), pid+"\n")
		checkRuns(t, script, "",
			rcRun{args: []string{"status"}, code: 0, stdout: "zsm-blog is running (pid " + pid + ")\n"},
			rcRun{args: []string{"start"}, code: 0, stdout: "zsm-blog is already running (pid " + pid + ")\n"},
			rcRun{args: []string{"reload"}, code: 0, stdout: "Reloading zsm-blog (pid " + pid + ")"},
		)
		if err := b.Wait(); err == nil || b.ProcessState.ExitCode() != 42 {
			t.Errorf("the broker did not get SIGHUP: %v", err)
		}
	})
	t.Run("stop", func(t *testing.T) {
		dir := t.TempDir()
		opt.PidfileDir = dir
		script := writeRC(t, dir, opt, "")
		b := fakeBroker(t, dir, false)
		pid := strconv.Itoa(b.Process.Pid)
		pidfile := opt.PidFile("blog")
		writePid(t, pidfile, pid+"\n")
		exited := make(chan error, 1)
		go func() { exited <- b.Wait() }()
		checkRuns(t, script, pidfile,
			rcRun{args: []string{"stop"}, code: 0, stdout: "Stopping zsm-blog (pid " + pid + ")\nStopped zsm-blog\n", pidfileGone: true},
			rcRun{args: []string{"status"}, code: 3},
		)
		if err := <-exited; err != nil {
			t.Errorf("the broker did not exit on SIGTERM: %v", err)
		}
	})
	t.Run("stop kills a broker that does not drain in time", func(t *testing.T) {
		dir := t.TempDir()
		opt.PidfileDir = dir
		script := writeRC(t, dir, opt, "2")
		b := fakeBroker(t, dir, true)
		pid := b.Process.Pid
		pidfile := opt.PidFile("blog")
		writePid(t, pidfile, strconv.Itoa(pid)+"\n")
		exited := make(chan error, 1)
		go func() { exited <- b.Wait() }()
		checkRuns(t, script, pidfile,
			rcRun{args: []string{"stop"}, code: 0, stdout: "Stopped zsm-blog", stderr: "zsm-blog did not stop within 0 seconds: killing it", pidfileGone: true},
		)
		err := <-exited
		if ws, ok := b.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Errorf("the broker ended with %v, want SIGKILL", err)
		}
		// Its child, the sleep, was in its process group and got SIGKILL
		// too: nothing of the group is left but zombies waiting for init.
		if left := liveInGroup(t, pid); len(left) > 0 {
			t.Errorf("the broker's process group outlived stop: %v", left)
		}
	})
}

// TestRCStart runs start with a recorder standing in for zsm: it must get
// the broker's command line with --daemon, and no XDG_RUNTIME_DIR.
func TestRCStart(t *testing.T) {
	name, uid := currentUser(t)
	want := func(zsm, config, pidfile string) []string {
		return []string{zsm, "serve", "--site", "blog", "--config", config, "--pidfile", pidfile,
			"--daemon", "--log", "syslog", "XDG_RUNTIME_DIR=unset"}
	}

	t.Run("as the user", func(t *testing.T) {
		dir := t.TempDir()
		zsm := filepath.Join(dir, "bin 'd' $(x) `y` \\", "zsm")
		fakes(t, dir, zsm)
		opt := SysvOptions{ZSM: zsm, Config: "/etc/it's $X `y`.hcl", User: name, UID: uid, PidfileDir: filepath.Join(dir, "pids $p")}
		script := writeRC(t, dir, opt, "")
		out := filepath.Join(dir, "argv")
		code, stdout, stderr := runRC(t, script, rcEnv("ZSMTEST_OUT="+out), "start")
		if code != 0 || stdout != "Started zsm-blog\n" {
			t.Errorf("start: exit %d, stdout %q, stderr %q", code, stdout, stderr)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		got := strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
		if diff := cmp.Diff(want(zsm, opt.Config, opt.PidFile("blog")), got); diff != "" {
			t.Errorf("start runs (-want +got):\n%s", diff)
		}
	})
	t.Run("broker fails", func(t *testing.T) {
		dir := t.TempDir()
		zsm := filepath.Join(dir, "zsm")
		if err := os.WriteFile(zsm, []byte("#!/bin/sh\necho 'zsm: /etc/zsm.hcl has no site \"blog\"' >&2\nexit 78\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		opt := SysvOptions{ZSM: zsm, User: name, UID: uid, PidfileDir: dir}
		checkRuns(t, writeRC(t, dir, opt, ""), "",
			rcRun{args: []string{"start"}, code: 1, stderr: `has no site "blog"`},
			rcRun{args: []string{"restart"}, code: 1, stdout: "is not running", stderr: `has no site "blog"`},
		)
	})
	t.Run("not installed", func(t *testing.T) {
		dir := t.TempDir()
		opt := SysvOptions{ZSM: filepath.Join(dir, "missing", "zsm"), User: name, UID: uid, PidfileDir: dir}
		checkRuns(t, writeRC(t, dir, opt, ""), "",
			rcRun{args: []string{"start"}, code: 5, stderr: "missing/zsm is not installed"})
	})
	if uid != 0 {
		t.Run("as another user", func(t *testing.T) {
			dir := t.TempDir()
			zsm := filepath.Join(dir, "zsm")
			fakes(t, dir, zsm)
			opt := SysvOptions{ZSM: zsm, User: "root", UID: 0, PidfileDir: dir}
			checkRuns(t, writeRC(t, dir, opt, ""), "",
				rcRun{args: []string{"start"}, code: 4, stderr: "zsm-blog: run this as root or as root"})
		})
		return
	}
	// As root, start goes through su to the user.
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Logf("no user nobody: start through su not run: %v", err)
		return
	}
	t.Run("through su", func(t *testing.T) {
		dir, err := os.MkdirTemp("", "zsmrc")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		zsm := filepath.Join(dir, "zsm")
		rec := "#!/bin/sh\n{ id -u; echo \"${XDG_RUNTIME_DIR-unset}\"; printf '%s\\n' \"$@\"; } >\"$ZSMTEST_OUT\"\n"
		if err := os.WriteFile(zsm, []byte(rec), 0o755); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, "out")
		if err := os.WriteFile(out, nil, 0o666); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(out, 0o666); err != nil {
			t.Fatal(err)
		}
		uid, _ := strconv.Atoi(nobody.Uid)
		opt := SysvOptions{ZSM: zsm, User: nobody.Username, UID: uid, PidfileDir: filepath.Join(dir, "pids")}
		script := writeRC(t, dir, opt, "")
		code, stdout, stderr := runRC(t, script, rcEnv("ZSMTEST_OUT="+out), "start")
		if code != 0 {
			t.Fatalf("start: exit %d, stdout %q, stderr %q", code, stdout, stderr)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		got := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
		w := append([]string{nobody.Uid, "unset"}, want(zsm, "/etc/zsm.hcl", opt.PidFile("blog"))[1:11]...)
		if diff := cmp.Diff(w, got); diff != "" {
			t.Errorf("start through su runs (-want +got):\n%s", diff)
		}
	})
}
