package proc

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/zsm-dev/zsm/internal/shim"
)

// Spec describes one worker process.
type Spec struct {
	Argv []string
	Dir  string
	Env  []string // the whole environment
	// Files become fds 3, 4, ... in the child. Spawn does not close them.
	Files []*os.File
	// SetListenPID runs the app through the exec shim so that LISTEN_PID
	// in its environment is its own pid.
	SetListenPID bool
	// Stdout and Stderr receive the app's output; nil discards it.
	Stdout, Stderr io.Writer
}

// Spawner starts workers.
type Spawner struct {
	// Shim is the exec shim (package shim): zsm-exec, or zsm itself, run
	// with the hidden command shim.Command. Empty means this process's own
	// executable.
	Shim string
	// Journal, when set, gives every worker journal streams of its own for
	// stdout and stderr, with this SYSLOG_IDENTIFIER: the shim connects
	// them in the worker's process, so that journald records the worker's
	// own pid. Stdout and Stderr of the Spec are then not used.
	Journal string
	// Output, when set (and Journal is not), gives every worker writers of
	// its own for stdout and stderr, e.g. a line splitter that must not
	// mix two workers' lines. Writers with a Flush method are flushed once
	// the worker has exited and its output is drained. Stdout and Stderr
	// of the Spec are then not used.
	Output func() (stdout, stderr io.Writer)
	// Children, when set, learns of every worker this Spawner starts, so
	// that reaping orphans (Children.Reap) leaves workers to their Wait.
	Children *Children
}

// flusher is an output writer that holds a partial line.
type flusher interface{ Flush() }

// deathSignal is what a worker gets when the broker dies (PR_SET_PDEATHSIG).
const deathSignal = shim.DeathSignal

// Process is a started worker. Exactly one goroutine calls Wait.
type Process struct {
	cmd      *exec.Cmd
	children *Children
}

// Spawn starts the worker described by s.
func (sp Spawner) Spawn(s Spec) (*Process, error) {
	if len(s.Argv) == 0 {
		return nil, errors.New("proc: empty command")
	}
	argv := s.Argv
	path, err := lookPath(argv[0], s.Dir, s.Env)
	if err != nil {
		return nil, err
	}
	env := s.Env
	if s.SetListenPID || sp.Journal != "" {
		if env == nil {
			env = os.Environ()
		}
		env = append([]string(nil), env...)
		if s.SetListenPID {
			env = append(env, shim.ListenPIDVar+"=1")
		}
		if sp.Journal != "" {
			env = append(env, shim.JournalVar+"="+sp.Journal)
		}
		prog := sp.Shim
		if prog == "" {
			if prog, err = os.Executable(); err != nil {
				return nil, fmt.Errorf("proc: finding the exec shim: %w", err)
			}
		}
		argv = append([]string{prog, shim.Command, path}, argv...)
		path = prog
	}
	cmd := &exec.Cmd{
		Path:       path,
		Args:       argv,
		Dir:        s.Dir,
		Env:        env,
		ExtraFiles: s.Files,
		Stdout:     s.Stdout,
		Stderr:     s.Stderr,
		SysProcAttr: &syscall.SysProcAttr{
			Setpgid:   true,
			Pdeathsig: deathSignal,
		},
	}
	if sp.Output != nil && sp.Journal == "" {
		cmd.Stdout, cmd.Stderr = sp.Output()
	}
	// The registry learns of the worker before it can exit, so that no
	// reaping of orphans takes its exit from Wait.
	sp.Children.lock()
	defer sp.Children.unlock()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("proc: starting %s: %w", s.Argv[0], unwrapExec(err))
	}
	sp.Children.addLocked(cmd.Process.Pid)
	return &Process{cmd: cmd, children: sp.Children}, nil
}

func unwrapExec(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// lookPath resolves the program the way a shell in dir would: a name with a
// slash is relative to dir, a bare name is searched on the PATH of env.
func lookPath(prog, dir string, env []string) (string, error) {
	if strings.Contains(prog, "/") {
		p := prog
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		if err := executable(p); err != nil {
			return "", fmt.Errorf("proc: %s: %w", prog, err)
		}
		return p, nil
	}
	pathEnv := os.Getenv("PATH")
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			pathEnv = v
		}
	}
	for d := range strings.SplitSeq(pathEnv, ":") {
		if d == "" {
			d = "."
		}
		if !filepath.IsAbs(d) {
			d = filepath.Join(dir, d)
		}
		if p := filepath.Join(d, prog); executable(p) == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("proc: %s: not found in PATH", prog)
}

func executable(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return unwrapExec(err)
	}
	if fi.IsDir() {
		return errors.New("is a directory")
	}
	if unix.Access(p, unix.X_OK) != nil {
		return errors.New("permission denied (not executable)")
	}
	return nil
}

// Pid returns the worker's process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Signal sends sig to the worker's whole process group.
func (p *Process) Signal(sig syscall.Signal) error {
	return unix.Kill(-p.cmd.Process.Pid, sig)
}

// Wait waits for the worker to exit, kills what is left of its process
// group (children that outlived it), and returns its state. Exactly one
// goroutine may call it.
func (p *Process) Wait() *os.ProcessState {
	pid := p.cmd.Process.Pid
	// Exited but not reaped: the group's id cannot be reused yet.
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if err != unix.EINTR {
			break
		}
	}
	unix.Kill(-pid, unix.SIGKILL)
	p.cmd.Wait()
	p.children.remove(pid)
	groupGone(pid)
	for _, w := range []io.Writer{p.cmd.Stdout, p.cmd.Stderr} {
		if f, ok := w.(flusher); ok {
			f.Flush()
		}
	}
	return p.cmd.ProcessState
}

// groupGoneWithin bounds how long Wait waits for the killed members of a
// worker's process group to be gone.
const groupGoneWithin = 2 * time.Second

// groupGone waits until no process of process group pgid runs any more,
// so that what they held (a listening port, above all) is free when Wait
// returns: a new worker may need it at once. The members, killed, die in
// a moment; a zombie holds nothing, whenever its reaper gets to it.
func groupGone(pgid int) {
	wait := 100 * time.Microsecond
	for deadline := time.Now().Add(groupGoneWithin); time.Now().Before(deadline); wait = min(2*wait, 10*time.Millisecond) {
		if unix.Kill(-pgid, 0) == unix.ESRCH || !groupRuns(pgid) {
			return
		}
		time.Sleep(wait)
	}
}

// groupRuns reports whether a process of group pgid has not exited yet
// (is not a zombie), from /proc.
func groupRuns(pgid int) bool {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	group := strconv.Itoa(pgid)
	for _, path := range stats {
		if f, ok := statFields(path); ok && f[2] == group && f[0] != "Z" && f[0] != "X" {
			return true
		}
	}
	return false
}

// Describe says how a process ended, for logs: "exited with status 1",
// "killed by SIGKILL".
func Describe(st *os.ProcessState) string {
	if st == nil {
		return "not started"
	}
	ws, ok := st.Sys().(syscall.WaitStatus)
	switch {
	case ok && ws.Signaled():
		return "killed by " + signalName(ws.Signal())
	default:
		return "exited with status " + strconv.Itoa(st.ExitCode())
	}
}

func signalName(s syscall.Signal) string {
	if n := unix.SignalName(s); n != "" {
		return n
	}
	return "signal " + strconv.Itoa(int(s))
}
