package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// A process is a child the bench started and stops: a server, a broker,
// a proxy. Its output goes to a log file in the bench's temp dir.
type process struct {
	name string
	cmd  *exec.Cmd
	log  string        // path of its output
	done chan struct{} // closed when it has exited
	err  error         // Wait's; read after done
}

// startProcess starts argv with env, its output in logPath, in a session
// of its own unless shared. stopSig is what the process gets should the
// bench die without stopping it.
func startProcess(name string, argv, env []string, logPath string, stopSig syscall.Signal, shared bool) (*process, error) {
	out, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	defer out.Close() // the child has its own copy
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = out, out
	// Its own session, as systemd starts every service: where the kernel
	// shares CPU time out by session (autogroup), each server is a group
	// of its own, as a service is in its own cgroup, and a zsm broker
	// shares its group with its workers. Shared, its own process group in
	// the bench's session. Either way a Ctrl-C reaches the bench only,
	// which stops its children in order, and Pdeathsig: a bench that dies
	// takes them along.
	attr := &syscall.SysProcAttr{Setsid: true, Pdeathsig: stopSig}
	if shared {
		attr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: stopSig}
	}
	cmd.SysProcAttr = attr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// pid is the process's id.
func (p *process) pid() int { return p.cmd.Process.Pid }

// exited reports whether the process has ended.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM and waits up to grace for the process to exit, then
// kills it. It returns an error if it had to kill, or if the process had
// already died on its own with a failure.
func (p *process) stop(grace time.Duration) error {
	if p.exited() {
		if p.err != nil {
			return fmt.Errorf("%s exited early: %w%s", p.name, p.err, p.tail())
		}
		return nil
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
		return nil
	case <-t.C:
	}
	p.cmd.Process.Kill()
	<-p.done
	return fmt.Errorf("%s did not stop within %v of SIGTERM: killed%s", p.name, grace, p.tail())
}

// output returns the process's output so far.
func (p *process) output() string {
	b, _ := os.ReadFile(p.log)
	return string(b)
}

// tail is the end of the output, for error messages: "\n--- NAME's
// output:\n...".
func (p *process) tail() string {
	s := strings.TrimSpace(p.output())
	if s == "" {
		return ""
	}
	const max = 3000
	if len(s) > max {
		s = "..." + s[len(s)-max:]
	}
	return fmt.Sprintf("\n--- output of %s (%s):\n%s", p.name, p.log, s)
}

// errExited means a process the bench waits for is gone.
var errExited = errors.New("bench: process exited")

// exitError describes an exited process for a caller that waited for it.
func (p *process) exitError() error {
	return fmt.Errorf("%w: %s (%v)%s", errExited, p.name, p.err, p.tail())
}
