package proc

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/zsm-dev/zsm/internal/shim"
)

// The test binary doubles as the exec shim and as the program the shim
// runs, chosen by this variable.
const shimTestRole = "ZSM_PROC_TEST_ROLE"

func init() {
	if os.Getenv(shimTestRole) != "" {
		// Keep the main goroutine on the main thread, so that a goroutine
		// that locks its thread runs on another one.
		runtime.LockOSThread()
	}
}

func TestMain(m *testing.M) {
	switch os.Getenv(shimTestRole) {
	case "shim-off-main-thread":
		// Go may exec from any of its threads; make the shim exec from
		// one that is not the thread the spawner forked.
		os.Setenv(shimTestRole, "report")
		done := make(chan error)
		go func() {
			runtime.LockOSThread()
			if unix.Gettid() == unix.Getpid() {
				done <- fmt.Errorf("the goroutine runs on the main thread")
				return
			}
			done <- shim.Main(os.Args[2:], nil)
		}()
		fmt.Fprintln(os.Stderr, <-done)
		os.Exit(1)
	case "report":
		var sig int32
		if err := unix.Prctl(unix.PR_GET_PDEATHSIG, uintptr(unsafe.Pointer(&sig)), 0, 0, 0); err != nil {
			fmt.Fprintln(os.Stderr, "PR_GET_PDEATHSIG:", err)
			os.Exit(1)
		}
		fmt.Printf("pdeathsig=%d listen_pid_is_own=%t\n", sig, os.Getenv("LISTEN_PID") == strconv.Itoa(os.Getpid()))
		os.Exit(0)
	}
	if role := os.Getenv(shimTestRole); role != "" {
		os.Exit(orphanRole(role))
	}
	os.Exit(m.Run())
}

// The worker must die with the broker even when the shim's exec ran on
// another thread than the one the spawner forked: the parent-death signal
// belongs to a thread, and exec keeps only the exec'ing thread's.
func TestShimKeepsParentDeathSignal(t *testing.T) {
	var out, errb bytes.Buffer
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p, err := Spawner{Shim: self}.Spawn(Spec{
		Argv:         []string{self},
		Dir:          t.TempDir(),
		Env:          append(os.Environ(), shimTestRole+"=shim-off-main-thread"),
		SetListenPID: true,
		Stdout:       &out,
		Stderr:       &errb,
	})
	if err != nil {
		t.Fatal(err)
	}
	if st := Describe(p.Wait()); st != "exited with status 0" {
		t.Fatalf("worker %s; stderr: %s", st, errb.String())
	}
	want := fmt.Sprintf("pdeathsig=%d listen_pid_is_own=true\n", syscall.SIGTERM)
	if got := out.String(); got != want {
		t.Errorf("the worker printed %q; want %q", got, want)
	}
}
