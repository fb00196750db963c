package main

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/zsm-dev/zsm/internal/proc"
)

// The test binary plays zsm-exec when this variable is set.
const role = "ZSM_EXEC_TEST_SHIM"

func TestMain(m *testing.M) {
	if os.Getenv(role) != "" {
		os.Unsetenv(role)
		main()
	}
	os.Exit(m.Run())
}

// zsm-exec, as the spawner runs it, execs the program with LISTEN_PID set
// to the program's own pid: the pid the spawner sees is the program's.
func TestExecsWithOwnPid(t *testing.T) {
	sh := "/bin/sh"
	var out, errb bytes.Buffer
	p, err := proc.Spawner{Shim: os.Args[0]}.Spawn(proc.Spec{
		Argv:         []string{sh, "-c", `echo "$LISTEN_PID $$ ${ZSM_SHIM_LISTEN_PID:-unset}"`},
		Env:          append(os.Environ(), role+"=1"),
		SetListenPID: true,
		Stdout:       &out,
		Stderr:       &errb,
	})
	if err != nil {
		t.Fatal(err)
	}
	pid := p.Pid()
	if st := proc.Describe(p.Wait()); st != "exited with status 0" {
		t.Fatalf("%s; stderr %q", st, errb.String())
	}
	want := strconv.Itoa(pid) + " " + strconv.Itoa(pid) + " unset"
	if got := strings.TrimSpace(out.String()); got != want {
		t.Errorf("LISTEN_PID, $$ and the shim's variable: %q, want %q", got, want)
	}
}

// Run by hand without a program, it says how it is used and fails.
func TestUsage(t *testing.T) {
	var out, errb bytes.Buffer
	p, err := proc.Spawner{}.Spawn(proc.Spec{
		Argv: []string{os.Args[0]}, Env: append(os.Environ(), role+"=1"), Stdout: &out, Stderr: &errb,
	})
	if err != nil {
		t.Fatal(err)
	}
	if st := proc.Describe(p.Wait()); st != "exited with status 127" || !strings.Contains(errb.String(), "zsm-exec: exec shim: usage") {
		t.Errorf("%s; stderr %q", st, errb.String())
	}
}
