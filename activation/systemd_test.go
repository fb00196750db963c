package activation

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// childListen runs in a re-executed test binary (see TestMain) started with
// passed descriptors: it calls Listen, reports what it got on stdout, serves
// ZSM_TEST_CONNS connections with "hello from <local address>", and stops.
func childListen() error {
	if os.Getenv("ZSM_TEST_SET_LISTEN_PID") != "" {
		// What an exec shim does between fork and exec: Go's os/exec cannot
		// know the child's pid before it runs.
		os.Setenv(envListenPID, strconv.Itoa(os.Getpid()))
	}
	var opts []Option
	if names := os.Getenv("ZSM_TEST_NAMES"); names != "" {
		opts = append(opts, Names(strings.Split(names, ",")...))
	}
	ln, err := Listen("tcp", "127.0.0.1:0", opts...)
	if err != nil {
		return err
	}
	defer ln.Close()
	fmt.Println("mode", ln.Mode())
	for _, k := range []string{envListenPID, envListenFDs, envListenFDNames, envListenPIDFDID} {
		if v, ok := os.LookupEnv(k); ok {
			return fmt.Errorf("%s=%s still set", k, v)
		}
	}
	if fd, err := strconv.Atoi(os.Getenv("ZSM_TEST_CHECK_FD")); err == nil {
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err != nil {
			return fmt.Errorf("unused fd %d: %w", fd, err)
		}
		fmt.Printf("fd %d open, cloexec %v\n", fd, flags&unix.FD_CLOEXEC != 0)
	}
	n, _ := strconv.Atoi(os.Getenv("ZSM_TEST_CONNS"))
	for range n {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		fmt.Fprintf(c, "hello from %s", c.LocalAddr())
		c.Close()
	}
	ln.Stop()
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("Accept after Stop: %v", err)
	}
	<-ln.Stopping()
	fmt.Println("stopped")
	return ln.Close()
}

// notifySocket listens for sd_notify datagrams in dir.
func notifySocket(t *testing.T) (*net.UnixConn, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, path
}

func readNotify(t *testing.T, c *net.UnixConn) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(testTimeout))
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	return string(buf[:n])
}

// TestSocketActivation runs the test binary as a socket-activated child with
// real passed descriptors: two TCP listeners and a pipe.
func TestSocketActivation(t *testing.T) {
	tests := []struct {
		name  string
		names string // Names option, comma-separated
		use   []int  // which listeners the child serves
	}{
		{name: "merged", use: []int{0, 1}},
		{name: "by name", names: "admin", use: []int{1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var lns []*net.TCPListener
			var files []*os.File
			for range 2 {
				ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { ln.Close() })
				f, err := ln.File()
				if err != nil {
					t.Fatal(err)
				}
				lns, files = append(lns, ln), append(files, f)
			}
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			files = append(files, r) // fd 5: not a listener
			notify, notifyPath := notifySocket(t)

			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
			cmd.ExtraFiles = files
			cmd.Env = append(os.Environ(),
				envChild+"=listen",
				"GORACE=atexit_sleep_ms=0",
				"ZSM_TEST_SET_LISTEN_PID=1",
				"ZSM_TEST_NAMES="+tt.names,
				"ZSM_TEST_CONNS="+strconv.Itoa(len(tt.use)),
				"ZSM_TEST_CHECK_FD=5",
				envListenFDs+"=3",
				envListenFDNames+"=web:admin:pipe",
				envListenPIDFDID+"=12345",
				envNotifySocket+"="+notifyPath,
			)
			var stdout strings.Builder
			cmd.Stdout, cmd.Stderr = &stdout, os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			for _, f := range files {
				f.Close()
			}
			if got := readNotify(t, notify); got != "READY=1" {
				t.Errorf("notify: %q, want READY=1", got)
			}
			for _, i := range tt.use {
				c, err := net.Dial("tcp", lns[i].Addr().String())
				if err != nil {
					t.Fatal(err)
				}
				got, err := io.ReadAll(c)
				c.Close()
				if want := "hello from " + lns[i].Addr().String(); string(got) != want || err != nil {
					t.Errorf("listener %d: %q, %v; want %q", i, got, err, want)
				}
			}
			if got := readNotify(t, notify); got != "STOPPING=1" {
				t.Errorf("notify: %q, want STOPPING=1", got)
			}
			if err := cmd.Wait(); err != nil {
				t.Fatalf("child: %v\n%s", err, stdout.String())
			}
			want := "mode systemd\nfd 5 open, cloexec true\nstopped\n"
			if diff := cmp.Diff(want, stdout.String()); diff != "" {
				t.Errorf("child output (-want +got):\n%s", diff)
			}

			// The child's Stop closed only its copies: the sockets still
			// queue connections for the next process.
			c, err := net.Dial("tcp", lns[0].Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			lns[0].SetDeadline(time.Now().Add(testTimeout))
			sc, err := lns[0].Accept()
			if err != nil {
				t.Fatal(err)
			}
			sc.Close()
		})
	}
}

// TestSystemdSocketActivate runs the child under systemd's own
// systemd-socket-activate, which sets a correct LISTEN_PID itself.
func TestSystemdSocketActivate(t *testing.T) {
	tool, err := exec.LookPath("systemd-socket-activate")
	if err != nil {
		t.Skip("systemd-socket-activate not installed")
	}
	sock := filepath.Join(t.TempDir(), "web.sock")
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, tool, "-l", sock, "--fdname=web",
		"-E", envChild+"=listen", "-E", "GORACE=atexit_sleep_ms=0", "-E", "ZSM_TEST_CONNS=1", "-E", "ZSM_TEST_NAMES=web",
		os.Args[0], "-test.run=^$")
	var stdout strings.Builder
	cmd.Stdout = &stdout
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait for "Listening on ..." rather than for time.
	lines := bufio.NewScanner(stderr)
	for lines.Scan() && !strings.Contains(lines.Text(), "Listening on") {
	}
	go io.Copy(io.Discard, stderr)
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(c)
	c.Close()
	if want := "hello from " + sock; string(got) != want || err != nil {
		t.Errorf("got %q, %v; want %q", got, err, want)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v\n%s", err, stdout.String())
	}
	if want := "mode systemd\nstopped\n"; stdout.String() != want {
		t.Errorf("child output %q, want %q", stdout.String(), want)
	}
}

// TestListenFDs covers the parsing of systemd's variables.
func TestListenFDs(t *testing.T) {
	const pid = 4242
	tests := []struct {
		name      string
		env       map[string]string
		wantNames []string
		wantOK    bool
		wantErr   bool
	}{
		{name: "absent", env: map[string]string{}},
		{name: "for another process", env: map[string]string{envListenPID: "1", envListenFDs: "2"}},
		{name: "zero descriptors", env: map[string]string{envListenPID: "4242", envListenFDs: "0"}},
		{name: "only LISTEN_FDS", env: map[string]string{envListenFDs: "2"}},
		{
			name:      "unnamed",
			env:       map[string]string{envListenPID: "4242", envListenFDs: "2", envListenPIDFDID: "7"},
			wantNames: []string{"unknown", "unknown"}, wantOK: true,
		},
		{
			name:      "named alike",
			env:       map[string]string{envListenPID: "4242", envListenFDs: "2", envListenFDNames: "web:web"},
			wantNames: []string{"web", "web"}, wantOK: true,
		},
		{name: "names do not match the count", env: map[string]string{envListenPID: "4242", envListenFDs: "2", envListenFDNames: "web"}, wantErr: true},
		{name: "bad pid", env: map[string]string{envListenPID: "x", envListenFDs: "1"}, wantErr: true},
		{name: "negative count", env: map[string]string{envListenPID: "4242", envListenFDs: "-1"}, wantErr: true},
		{name: "huge count", env: map[string]string{envListenPID: "4242", envListenFDs: "99999999"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			names, ok, err := ListenFDs(fakeEnv(tt.env, pid))
			if (err != nil) != tt.wantErr {
				t.Fatalf("error %v, want error %v", err, tt.wantErr)
			}
			if ok != tt.wantOK {
				t.Errorf("ok %v, want %v", ok, tt.wantOK)
			}
			if diff := cmp.Diff(tt.wantNames, names); diff != "" {
				t.Errorf("names (-want +got):\n%s", diff)
			}
			if len(tt.env) != 0 {
				t.Errorf("variables left set: %v", tt.env)
			}
		})
	}
}

// TestListenFDsZeroEnv: the zero Env is this process's environment, and
// ListenFDs leaves none of the four variables in it.
func TestListenFDsZeroEnv(t *testing.T) {
	t.Setenv(envListenPID, strconv.Itoa(os.Getpid()))
	t.Setenv(envListenFDs, "2")
	t.Setenv(envListenFDNames, "web:admin")
	t.Setenv(envListenPIDFDID, "7")
	names, ok, err := ListenFDs(Env{})
	if err != nil || !ok {
		t.Fatalf("ok %v, error %v; want the two names", ok, err)
	}
	if diff := cmp.Diff([]string{"web", "admin"}, names); diff != "" {
		t.Errorf("names (-want +got):\n%s", diff)
	}
	for _, k := range []string{envListenPID, envListenFDs, envListenFDNames, envListenPIDFDID} {
		if v, set := os.LookupEnv(k); set {
			t.Errorf("%s=%q left set", k, v)
		}
	}
}

// FuzzListenFDs: whatever the variables hold, ListenFDs removes all four,
// and returns either names for this process or nothing.
func FuzzListenFDs(f *testing.F) {
	f.Add("4242", "2", "web:web", true)
	f.Add("4242", "1", "", false)
	f.Add("1", "3", "a:b:c", true)
	f.Add("4242", "0", "", true)
	f.Add("x", "-1", "::", true)
	f.Fuzz(func(t *testing.T, pid, fds, names string, haveNames bool) {
		env := map[string]string{envListenPID: pid, envListenFDs: fds, envListenPIDFDID: "7"}
		if haveNames {
			env[envListenFDNames] = names
		}
		got, ok, err := ListenFDs(fakeEnv(env, 4242))
		if len(env) != 0 {
			t.Errorf("variables left set: %v", env)
		}
		p, _ := strconv.Atoi(pid)
		n, _ := strconv.Atoi(fds)
		switch {
		case err != nil && (ok || got != nil):
			t.Errorf("error %v with ok %v, names %q", err, ok, got)
		case ok && (p != 4242 || n == 0 || len(got) != n):
			t.Errorf("LISTEN_PID=%q LISTEN_FDS=%q: ok with names %q", pid, fds, got)
		case !ok && got != nil:
			t.Errorf("not ok, but names %q", got)
		}
	})
}

// TestStandalone: without zsm or systemd variables Listen binds the address,
// tells $NOTIFY_SOCKET, and Stop closes Stopping and makes Accept fail.
func TestStandalone(t *testing.T) {
	checkLeaks(t)
	notify, path := notifySocket(t)
	env := map[string]string{
		envListenPID:    "1", // someone else's
		envListenFDs:    "1",
		envNotifySocket: path,
	}
	ln, err := listen(fakeEnv(env, 4242), "tcp", "127.0.0.1:0", StopSignals())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if ln.Mode() != ModeStandalone {
		t.Fatalf("mode %v", ln.Mode())
	}
	if err := ln.Status("warming up"); err != nil {
		t.Fatal(err)
	}
	if got := readNotify(t, notify); got != "STATUS=warming up" {
		t.Errorf("notify %q", got)
	}
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			t.Error(err)
		}
		accepted <- c
	}()
	if got := readNotify(t, notify); got != "READY=1" {
		t.Errorf("notify %q, want READY=1", got)
	}
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	c := wait(t, "Accept", accepted)
	if _, ok := c.(*net.TCPConn); !ok {
		t.Errorf("Accept returned %T, want *net.TCPConn", c)
	}
	c.Close()
	ln.Stop()
	if got := readNotify(t, notify); got != "STOPPING=1" {
		t.Errorf("notify %q, want STOPPING=1", got)
	}
	wait(t, "Stopping", ln.Stopping())
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Stop: %v", err)
	}
	if err := ln.Close(); err != nil {
		t.Fatalf("Close after Stop: %v", err)
	}
}

// TestListenOptions: bad options fail.
func TestListenOptions(t *testing.T) {
	for _, n := range []int{0, -1, MaxSlots + 1} {
		if ln, err := listen(fakeEnv(map[string]string{}, 1), "tcp", "127.0.0.1:0", Slots(n)); err == nil {
			ln.Close()
			t.Errorf("Slots(%d) accepted", n)
		}
	}
}

// TestBind: standalone, Listen binds with the ListenConfig it is given;
// here SO_REUSEPORT, so that two listeners share one port.
func TestBind(t *testing.T) {
	reuse := &net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1) })
		return errors.Join(err, serr)
	}}
	a, err := listen(fakeEnv(nil, 4242), "tcp", "127.0.0.1:0", StopSignals(), Bind(reuse))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := listen(fakeEnv(nil, 4242), "tcp", a.Addr().String(), StopSignals(), Bind(reuse))
	if err != nil {
		t.Fatalf("a second listener on %s with SO_REUSEPORT: %v", a.Addr(), err)
	}
	b.Close()
}
