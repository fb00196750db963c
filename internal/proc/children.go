package proc

import (
	"context"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// A worker may leave processes behind: children that ignore its stop
// signal and outlive it in its process group (Process.Wait kills those),
// and children that left the group (setsid, a double fork), which the
// kernel gives to the nearest subreaper when their parent dies. The broker
// makes itself that subreaper (BecomeSubreaper), so that such orphans are
// its own: Children reaps them as they exit and kills the rest when the
// broker stops, so that nothing of a site outlives its broker.

// BecomeSubreaper makes this process the reaper of its descendants' orphans
// (PR_SET_CHILD_SUBREAPER, prctl(2)).
func BecomeSubreaper() error {
	return unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
}

// Children tells the workers a Spawner started from the other children of
// this process: orphans. The zero value is ready to use; a nil *Children
// knows no worker and does nothing.
type Children struct {
	mu      sync.Mutex // guards workers
	workers map[int]bool
}

func (c *Children) lock() {
	if c != nil {
		c.mu.Lock()
	}
}

func (c *Children) unlock() {
	if c != nil {
		c.mu.Unlock()
	}
}

func (c *Children) addLocked(pid int) {
	if c == nil {
		return
	}
	if c.workers == nil {
		c.workers = map[int]bool{}
	}
	c.workers[pid] = true
}

func (c *Children) remove(pid int) {
	if c == nil {
		return
	}
	c.mu.Lock()
	delete(c.workers, pid)
	c.mu.Unlock()
}

// orphans returns this process's children that are not workers.
func (c *Children) orphans() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []int
	for _, pid := range childPids() {
		if !c.workers[pid] {
			out = append(out, pid)
		}
	}
	return out
}

// Reap reaps orphans as they exit, until ctx is done.
func (c *Children) Reap(ctx context.Context) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGCHLD)
	defer signal.Stop(sig)
	t := time.NewTicker(time.Second) // a SIGCHLD merged with a worker's
	defer t.Stop()
	// Orphans come with a SIGCHLD: none is waiting yet, and a scan now
	// would hold up the first worker's start (Spawn takes the lock).
	for {
		select {
		case <-ctx.Done():
			return
		case <-sig:
		case <-t.C:
		}
		if !zombie() {
			continue // most SIGCHLDs are a worker's, already reaped by its Wait
		}
		for _, pid := range c.orphans() {
			var ws unix.WaitStatus
			unix.Wait4(pid, &ws, unix.WNOHANG, nil)
		}
	}
}

// zombie reports whether a child of this process has exited and is
// waiting to be reaped, without reaping it: only then can an orphan be
// reaped, and only then is the list of children worth reading.
func zombie() bool {
	var info unix.Siginfo
	err := unix.Waitid(unix.P_ALL, 0, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil)
	return err == nil && info.Signo == int32(unix.SIGCHLD)
}

// KillOrphans kills every orphan with SIGKILL and reaps it, waiting at
// most timeout.
func (c *Children) KillOrphans(timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for {
		pids := c.orphans()
		if len(pids) == 0 || time.Now().After(deadline) {
			return
		}
		for _, pid := range pids {
			unix.Kill(pid, unix.SIGKILL)
			var ws unix.WaitStatus
			unix.Wait4(pid, &ws, 0, nil)
		}
	}
}

// childPids lists this process's children: those of every thread
// (/proc/self/task/TID/children), orphans it adopted included. It lists
// the threads' names alone: filepath.Glob would open and list every
// thread's directory of some fifty entries to find "children" in it.
func childPids() []int {
	const task = "/proc/self/task/"
	d, err := os.Open(task)
	if err != nil {
		return nil
	}
	tids, _ := d.Readdirnames(-1)
	d.Close()
	var pids []int
	for _, tid := range tids {
		b, err := os.ReadFile(task + tid + "/children")
		if err != nil {
			continue
		}
		for f := range strings.FieldsSeq(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}
