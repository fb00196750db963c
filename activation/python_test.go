package activation

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The Python worker was written from PROTOCOL.md alone: these tests check
// the spec and an independent implementation of it against each other, with
// this package's codec playing the broker.

const pythonWorker = "../contrib/workers/python/hello_worker.py"

// startPython starts the Python worker on a new channel.
func startPython(t *testing.T, env ...string) (*broker, *exec.Cmd, *strings.Builder) {
	t.Helper()
	script, err := filepath.Abs(pythonWorker)
	if err != nil {
		t.Fatal(err)
	}
	return startPythonScript(t, script, env...)
}

// startPythonScript starts a Python worker script on a new channel, with
// the channel as fd 3 and the protocol variables set.
func startPythonScript(t *testing.T, script string, env ...string) (*broker, *exec.Cmd, *strings.Builder) {
	t.Helper()
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	b, fd := newBroker(t)
	f := os.NewFile(uintptr(fd), "worker")
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, python, script)
	cmd.ExtraFiles = []*os.File{f} // fd 3 in the worker
	cmd.Env = append(os.Environ(), append([]string{EnvChannelFD + "=3", EnvProtocol + "=1"}, env...)...)
	stderr := new(strings.Builder)
	cmd.Stderr = stderr
	err = cmd.Start()
	f.Close() // the worker has its own copy now
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return b, cmd, stderr
}

// TestPythonWorker: READY/SLOTS, two connections served at once, DONE with
// their IDs, an unknown message ignored, end of file → exit 0.
func TestPythonWorker(t *testing.T) {
	checkLeaks(t)
	b, cmd, stderr := startPython(t, "HELLO_SLOTS=2")
	if r := b.read(); !r.Ready || r.Slots != 2 || !r.HasStatus {
		t.Fatalf("first report %+v, want READY=1 SLOTS=2 STATUS=...", r)
	}

	// Two at once: both are held before either is answered.
	c1, id1 := b.send()
	c2, id2 := b.send()
	for _, c := range []net.Conn{c2, c1} {
		if got := get(t, c, bufio.NewReader(c), "/", false); got != "hello from python\n" {
			t.Errorf("body %q", got)
		}
	}
	done := map[uint64]bool{}
	for range 2 {
		r := b.read()
		if !r.Done {
			t.Fatalf("got %+v, want DONE", r)
		}
		done[r.ID] = true
	}
	if !done[id1] || !done[id2] {
		t.Errorf("DONE for %v, want %d and %d", done, id1, id2)
	}

	// A message a version 1 worker does not know, with a descriptor: ignored.
	null, _ := os.Open(os.DevNull)
	if err := WriteMessage(b.ch, Message{{"FUTURE", "1"}}, null); err != nil {
		t.Fatal(err)
	}
	null.Close()
	c3, id3 := b.send()
	if got := get(t, c3, bufio.NewReader(c3), "/", true); got != "hello from python\n" {
		t.Errorf("body %q", got)
	}
	if r := b.read(); r != (Report{Done: true, ID: id3}) {
		t.Fatalf("got %+v, want DONE for %d", r, id3)
	}

	b.end()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("worker: %v\n%s", err, stderr)
	}
	if stderr.Len() > 0 {
		t.Errorf("worker stderr:\n%s", stderr)
	}
	b.readEOF()
}

// TestPythonWorkerStop: SIGTERM → STOPPING=1; the connection sent before the
// broker read it is still served; end of file → exit 0.
func TestPythonWorkerStop(t *testing.T) {
	b, cmd, stderr := startPython(t)
	b.read() // READY
	c, id := b.send()
	cmd.Process.Signal(syscall.SIGTERM)
	if r := b.read(); r != (Report{Stopping: true}) {
		t.Fatalf("got %+v, want STOPPING=1", r)
	}
	b.end()
	if got := get(t, c, bufio.NewReader(c), "/", true); got != "hello from python\n" {
		t.Errorf("body %q", got)
	}
	if r := b.read(); r != (Report{Done: true, ID: id}) {
		t.Fatalf("got %+v, want DONE", r)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("worker: %v\n%s", err, stderr)
	}
}

// TestPythonWorkerTermAfterEOF: after end of file, SIGTERM (which the
// broker sends only once the stop timeout has passed) ends the worker at
// once, though it still holds a connection.
func TestPythonWorkerTermAfterEOF(t *testing.T) {
	b, cmd, _ := startPython(t)
	b.read() // READY: sent once its SIGTERM handler is set
	if ok, err := catches(cmd.Process.Pid, syscall.SIGTERM); err != nil || !ok {
		t.Fatalf("before end of file the worker catches SIGTERM: %v, %v; want true", ok, err)
	}
	c, _ := b.send() // no request: the worker waits on it
	b.end()
	err := poll(func() error {
		ok, err := catches(cmd.Process.Pid, syscall.SIGTERM)
		if err == nil && ok {
			err = errors.New("still catches SIGTERM after end of file")
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	err = cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGTERM {
		t.Fatalf("worker: %v; want it ended by SIGTERM", err)
	}
	c.SetReadDeadline(time.Now().Add(testTimeout))
	if n, err := c.Read(make([]byte, 1)); err == nil {
		t.Errorf("the client's connection is still open (read %d bytes)", n)
	}
}

// catches reports whether process pid catches sig (SigCgt in
// /proc/PID/status).
func catches(pid int, sig syscall.Signal) (bool, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return false, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if mask, ok := strings.CutPrefix(line, "SigCgt:"); ok {
			m, err := strconv.ParseUint(strings.TrimSpace(mask), 16, 64)
			return m&(1<<(sig-1)) != 0, err
		}
	}
	return false, errors.New("no SigCgt line")
}

// TestPythonWorkerErrors: a wrong version or a bad CONN makes it exit non-zero.
func TestPythonWorkerErrors(t *testing.T) {
	tests := []struct {
		name string
		env  []string
		send func(b *broker)
	}{
		{name: "protocol 2", env: []string{EnvProtocol + "=2"}},
		{name: "CONN without a descriptor", send: func(b *broker) {
			b.read() // READY
			if err := WriteMessage(b.ch, Handoff{ID: 1, Listener: "x"}.Message(), nil); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "malformed datagram", send: func(b *broker) {
			b.read() // READY
			if _, _, err := b.ch.WriteMsgUnix([]byte("CONN=1\nCONN=1\n"), unix.UnixRights(0), nil); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, cmd, stderr := startPython(t, tt.env...)
			if tt.send != nil {
				tt.send(b)
			}
			err := cmd.Wait()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() == 0 {
				t.Fatalf("worker: %v, want a non-zero exit", err)
			}
			t.Logf("worker said: %s", strings.TrimSpace(stderr.String()))
			b.readEOF() // and nothing else
		})
	}
}

// TestProtocolPythonExample runs the minimal worker printed in PROTOCOL.md,
// section 8, so that the spec's own example stays true.
func TestProtocolPythonExample(t *testing.T) {
	spec, err := os.ReadFile("PROTOCOL.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(spec), "## 8.")
	if ok {
		_, rest, ok = strings.Cut(rest, "```python\n")
	}
	code, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("no python block in section 8 of PROTOCOL.md")
	}
	script := filepath.Join(t.TempDir(), "minimal.py")
	if err := os.WriteFile(script, []byte(code), 0o644); err != nil {
		t.Fatal(err)
	}
	b, cmd, stderr := startPythonScript(t, script)
	if r := b.read(); r != (Report{Ready: true, Slots: 1}) {
		t.Fatalf("got %+v, want READY=1 SLOTS=1", r)
	}
	for range 2 {
		c, id := b.send()
		if got := get(t, c, bufio.NewReader(c), "/", true); got != "hello\n" {
			t.Errorf("body %q", got)
		}
		if r := b.read(); r != (Report{Done: true, ID: id}) {
			t.Fatalf("got %+v, want DONE for %d", r, id)
		}
	}
	b.end()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("worker: %v\n%s", err, stderr)
	}
}
