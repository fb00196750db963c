package test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/zsm-dev/zsm/internal/freeport"
	"github.com/zsm-dev/zsm/test/systemdtest"
)

// raceEnv is the GORACE setting for the commands the tests run: binaries
// built with -race sleep a second before exiting (atexit_sleep_ms=1000) to
// let reports print; every zsmgen call and broker stop would pay it.
func raceEnv() string {
	return "GORACE=" + strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0")
}

// zsmgen runs the built zsmgen with args and returns its combined output,
// failing the test if it fails.
func zsmgen(t *testing.T, bin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(bin, "zsmgen"), args...)
	cmd.Env = append(os.Environ(), raceEnv())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("zsmgen %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// enableSites does what a user does with existing config files: `zsmgen
// units` for each into the unit directory (which must be the test's
// [systemdtest.UnitDir]), one daemon-reload, and `enable --now` of the named
// sites' sockets. The sites are disabled when the test ends; their journal is
// logged if it failed.
func enableSites(t *testing.T, cfgs []string, names ...string) {
	t.Helper()
	bin := systemdtest.BuildBinaries(t)
	var out strings.Builder
	for _, cfg := range cfgs {
		out.WriteString(zsmgen(t, bin, "units", cfg))
	}
	// Every site's drop-ins are there: zsmgen units for one file leaves
	// the files it generated for another alone.
	unitDir := filepath.Join(os.Getenv("XDG_CONFIG_HOME"), "systemd", "user")
	for _, name := range names {
		if _, err := os.Stat(filepath.Join(unitDir, "zsm@"+name+".socket.d", "zsmgen.conf")); err != nil {
			t.Fatalf("no drop-in for site %s in the user's unit dir after zsmgen units: %v\n%s", name, err, out.String())
		}
	}
	systemdtest.Systemctl(t, "daemon-reload")
	var sockets, all []string
	for _, name := range names {
		sockets = append(sockets, "zsm@"+name+".socket")
		all = append(all, "zsm@"+name+".socket", "zsm@"+name+".service")
	}
	t.Cleanup(func() {
		systemdtest.Systemctl(t, append([]string{"disable", "--now"}, all...)...)
		if t.Failed() {
			for _, name := range names {
				t.Logf("journal of zsm@%s.service:\n%s", name,
					systemdtest.Journal(t, "--user-unit=zsm@"+name+".service"))
			}
		}
	})
	systemdtest.Systemctl(t, append([]string{"enable", "--now"}, sockets...)...)
}

// freePorts returns n different loopback ports that were free a moment ago.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	ports, err := freeport.Pick(n)
	if err != nil {
		t.Fatal(err)
	}
	return ports
}

// showValue returns one property of a unit: `systemctl --user show -p P --value`.
func showValue(t *testing.T, unit, prop string) string {
	t.Helper()
	return strings.TrimSpace(systemdtest.Systemctl(t, "show", "-p", prop, "--value", unit))
}

// process identifies a process beyond its pid: pids are reused, start times
// (in clock ticks since boot) tell the processes apart.
type process struct {
	pid   int
	start string
}

func (p process) String() string { return strconv.Itoa(p.pid) }

// stat returns a process's state letter, parent pid and start time from
// /proc/PID/stat.
func stat(pid int) (state byte, ppid int, start string, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, "", err
	}
	// The command name (field 2) may hold spaces and parentheses: the
	// fields that follow start after its last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, "", fmt.Errorf("/proc/%d/stat: %q", pid, b)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return 0, 0, "", fmt.Errorf("/proc/%d/stat: %q", pid, b)
	}
	// f[0] is field 3 (state), f[1] field 4 (ppid), f[19] field 22 (starttime).
	ppid, err = strconv.Atoi(f[1])
	return f[0][0], ppid, f[19], err
}

// lookupProcess returns the running process pid.
func lookupProcess(t *testing.T, pid int) process {
	t.Helper()
	_, _, start, err := stat(pid)
	if err != nil {
		t.Fatalf("process %d: %v", pid, err)
	}
	return process{pid: pid, start: start}
}

// alive reports whether p still runs: the same process (not a reused pid)
// and not a zombie.
func (p process) alive() bool {
	state, _, start, err := stat(p.pid)
	return err == nil && start == p.start && state != 'Z'
}

// kill sends SIGKILL to p if it still runs.
func (p process) kill() {
	if p.alive() {
		syscall.Kill(p.pid, syscall.SIGKILL)
	}
}

// exe returns the program p runs (the target of /proc/PID/exe).
func (p process) exe() string {
	s, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", p.pid))
	return s
}

// allPids lists every process of this pid namespace.
func allPids(t *testing.T) []int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// children returns the running children of parent.
func children(t *testing.T, parent int) []process {
	t.Helper()
	var kids []process
	for _, pid := range allPids(t) {
		state, ppid, start, err := stat(pid)
		if err == nil && ppid == parent && state != 'Z' {
			kids = append(kids, process{pid: pid, start: start})
		}
	}
	return kids
}

// withEnv returns the running processes whose environment holds kv
// ("KEY=VALUE"): with a value unique to a test, every process a command
// started, however deep, and whatever it was reparented to.
func withEnv(t *testing.T, kv string) []process {
	t.Helper()
	var found []process
	for _, pid := range allPids(t) {
		env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if err != nil || !bytes.Contains(append([]byte{0}, env...), []byte("\x00"+kv+"\x00")) {
			continue
		}
		if state, _, start, err := stat(pid); err == nil && state != 'Z' {
			found = append(found, process{pid: pid, start: start})
		}
	}
	return found
}

// lockedBuffer collects a command's output while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// running is a command started in the background; done is closed once it
// has exited, after which err holds what Wait returned.
type running struct {
	cmd    *exec.Cmd
	output *lockedBuffer // stdout and stderr
	done   chan struct{}
	err    error
}

// start starts cmd with its output collected, in a process group of its
// own. When the test ends, a command still running is killed (its whole
// process group) and waited for.
func start(t *testing.T, cmd *exec.Cmd) *running {
	t.Helper()
	r := &running{cmd: cmd, output: &lockedBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = r.output, r.output
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// Children that outlive the command keep its output pipe open: do not
	// let them hold up Wait.
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", cmd.Path, err)
	}
	go func() {
		r.err = cmd.Wait()
		close(r.done)
	}()
	t.Cleanup(func() {
		select {
		case <-r.done:
			return
		default:
		}
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-r.done
		t.Errorf("%s was still running when the test ended: killed; output:\n%s", cmd.Path, r.output)
	})
	return r
}

// wait waits at most timeout for the command to exit and returns its exit
// status, failing the test if it does not exit in time.
func (r *running) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-r.done:
	case <-timer.C:
		t.Fatalf("%s did not exit within %v; output:\n%s", r.cmd.Path, timeout, r.output)
	}
	var exit *exec.ExitError
	switch {
	case r.err == nil:
		return 0
	case errors.As(r.err, &exit):
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return exit.ExitCode()
	default:
		t.Fatalf("waiting for %s: %v", r.cmd.Path, r.err)
		return -1
	}
}

// exited reports whether the command has exited.
func (r *running) exited() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// runBounded runs name with args in dir with env, at most for timeout,
// and returns its combined output and error.
func runBounded(timeout time.Duration, dir string, env []string, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir, cmd.Env = dir, env
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		err = fmt.Errorf("%w (timed out after %v)", err, timeout)
	}
	return string(out), err
}

// envWithout returns the environment less the named variables, plus extra.
func envWithout(drop []string, extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		keep := true
		for _, d := range drop {
			keep = keep && k != d
		}
		if keep {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}
