package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"

	"golang.org/x/sys/unix"
)

// A broker started with --daemon runs as a detached child: a new session,
// stdin and stdout on /dev/null, its working directory /, and stderr a
// pipe to the command the user ran until the broker is up. That command
// relays what the child says and exits 0 once the child says it is ready,
// or with the child's status if it fails first: an rc script's `start`
// knows the outcome.
const (
	daemonEnv  = "ZSM_DAEMON_CHILD" // set for the child; it removes it
	daemonDone = "zsm: daemon ready"
)

// daemonize runs `zsm args...` as the daemon child and waits until it is
// up or has failed.
func daemonize(args []string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer null.Close()
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	cmd := exec.Command(self, args...)
	cmd.Env = append(os.Environ(), daemonEnv+"=1")
	cmd.Dir = "/"
	cmd.Stdin, cmd.Stdout, cmd.Stderr = null, null, w
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	w.Close()
	if err != nil {
		return err
	}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if sc.Text() == daemonDone {
			// Up; the child goes on without us.
			return cmd.Process.Release()
		}
		fmt.Fprintln(os.Stderr, sc.Text())
	}
	cmd.Wait()
	if cmd.ProcessState.Success() {
		return nil // nothing to start: --if-stopped, and a broker runs
	}
	code := cmd.ProcessState.ExitCode()
	if code <= 0 {
		code = 1 // killed by a signal
	}
	return exitError{code: code, err: errors.New("the broker did not start")}
}

// daemonStarted tells the waiting command that the broker is up, then
// points stderr at /dev/null: nobody reads the pipe any more.
func daemonStarted() error {
	fmt.Fprintln(os.Stderr, daemonDone)
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer null.Close()
	return unix.Dup3(int(null.Fd()), 2, 0)
}
