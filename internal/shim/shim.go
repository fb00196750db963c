package shim

import (
	"errors"
	"os"
	"runtime"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// Command is the hidden command that runs the shim, in zsm and in
// zsm-exec alike: PROGRAM ARGV0 [ARGS...] follow it.
const Command = "__exec-listen"

// Program is the shim's own executable, looked for beside zsm's.
const Program = "zsm-exec"

// Variables the spawner sets for the shim; the shim removes them.
const (
	// ListenPIDVar set to 1 asks for LISTEN_PID to be the worker's pid.
	ListenPIDVar = "ZSM_SHIM_LISTEN_PID"
	// JournalVar names the SYSLOG_IDENTIFIER of journal streams to
	// connect to the worker's stdout and stderr.
	JournalVar = "ZSM_SHIM_JOURNAL"
)

// DeathSignal is what a worker gets when the broker dies (PR_SET_PDEATHSIG).
const DeathSignal = syscall.SIGTERM

// StreamSocket is journald's stdout stream socket (systemd-journald.service(8)).
const StreamSocket = "/run/systemd/journal/stdout"

// Main is the shim: args are the resolved program and its argv. As the
// spawner asked, it sets LISTEN_PID (and WATCHDOG_PID) to this process's
// pid and connects stdout and stderr to journal streams of their own,
// then replaces itself with the program. It returns only on error.
// stream connects a journal stream; nil means Stream.
func Main(args []string, stream func(identifier string) (*os.File, error)) error {
	if len(args) < 2 {
		return errors.New("exec shim: usage: " + Command + " PROGRAM ARGV0 [ARGS...]")
	}
	if stream == nil {
		stream = Stream
	}
	parent := os.Getppid()
	pid := strconv.Itoa(os.Getpid())
	if os.Getenv(ListenPIDVar) == "1" {
		os.Setenv("LISTEN_PID", pid)
		os.Unsetenv("LISTEN_PIDFDID")
	}
	if _, ok := os.LookupEnv("WATCHDOG_USEC"); ok {
		os.Setenv("WATCHDOG_PID", pid)
	}
	if id := os.Getenv(JournalVar); id != "" {
		for _, target := range []int{1, 2} {
			f, err := stream(id)
			if err != nil {
				continue // keep the inherited output
			}
			unix.Dup3(int(f.Fd()), target, 0)
			f.Close()
		}
	}
	os.Unsetenv(ListenPIDVar)
	os.Unsetenv(JournalVar)
	// The parent-death signal the spawner set belongs to the thread it
	// forked, and exec keeps only the exec'ing thread's, which Go may have
	// moved this goroutine off. Set it again on the thread that execs; if
	// the broker died meanwhile, the signal it sent went to this process
	// (and, unhandled, ended it) or the check below sees it.
	runtime.LockOSThread()
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(DeathSignal), 0, 0, 0); err != nil {
		return errors.New("exec shim: PR_SET_PDEATHSIG: " + err.Error())
	}
	if os.Getppid() != parent {
		return errors.New("exec shim: the broker exited")
	}
	err := unix.Exec(args[0], args[1:], os.Environ())
	return errors.New("exec shim: exec " + args[0] + ": " + err.Error())
}

// Stream connects a journal stream (the protocol of systemd's own
// StandardOutput=journal) whose lines get this identifier and priority
// info, attributed to the calling process.
func Stream(identifier string) (*os.File, error) { return stream(StreamSocket, identifier) }

func stream(socket, identifier string) (*os.File, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	f := os.NewFile(uintptr(fd), "journal-stream")
	if err := unix.Connect(fd, &unix.SockaddrUnix{Name: socket}); err != nil {
		f.Close()
		return nil, errors.New("journal: connecting to " + socket + ": " + err.Error())
	}
	unix.Shutdown(fd, unix.SHUT_RD)
	// identifier, unit id, priority (6, info), level prefix, and
	// forwarding to syslog, kmsg and the console (off).
	if _, err := f.Write([]byte(identifier + "\n\n6\n1\n0\n0\n0\n")); err != nil {
		f.Close()
		return nil, errors.New("journal: " + err.Error())
	}
	return f, nil
}
