package proc

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// orphanRole plays the processes of TestOrphansDie; it returns the exit
// status.
func orphanRole(role string) int {
	self, _ := os.Executable()
	switch role {
	case "stubborn":
		// Ignores SIGTERM; only SIGKILL ends it.
		signal.Ignore(syscall.SIGTERM)
		fmt.Println(os.Getpid())
		for {
			unix.Pause()
		}
	case "forker":
		// Leaves two stubborn children behind, one in its process group
		// and one in a session of its own, says their pids, and exits.
		for _, setsid := range []bool{false, true} {
			cmd := exec.Command(self)
			cmd.Env = append(os.Environ(), shimTestRole+"=stubborn")
			cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: setsid}
			out, _ := cmd.StdoutPipe()
			if err := cmd.Start(); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			line, _ := bufio.NewReader(out).ReadString('\n')
			fmt.Print(line)
		}
		return 0
	case "subreaper":
		return subreaper(self)
	}
	return 2
}

// subreaper is the broker's part: it spawns a forker as a worker, waits
// for it, kills and reaps what it left, and says whether anything is left.
func subreaper(self string) int {
	if err := BecomeSubreaper(); err != nil {
		fmt.Println("BecomeSubreaper:", err)
		return 1
	}
	children := &Children{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go children.Reap(ctx)
	var out bytes.Buffer
	p, err := Spawner{Children: children}.Spawn(Spec{
		Argv: []string{self}, Dir: os.TempDir(), Env: append(os.Environ(), shimTestRole+"=forker"), Stdout: &out,
	})
	if err != nil {
		fmt.Println("Spawn:", err)
		return 1
	}
	if st := Describe(p.Wait()); st != "exited with status 0" {
		fmt.Println("forker", st)
		return 1
	}
	pids := strings.Fields(out.String())
	if len(pids) != 2 {
		fmt.Printf("forker said %q\n", out.String())
		return 1
	}
	// The child in its process group died with it.
	inGroup, _ := strconv.Atoi(pids[0])
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for deadline := time.Now().Add(5 * time.Second); !dead(inGroup); <-tick.C {
		if time.Now().After(deadline) {
			fmt.Printf("pid %d, in the worker's group, outlived it\n", inGroup)
			return 1
		}
	}
	children.KillOrphans(10 * time.Second)
	for _, s := range pids {
		pid, _ := strconv.Atoi(s)
		if err := unix.Kill(pid, 0); err != unix.ESRCH {
			fmt.Printf("pid %d left behind (kill 0: %v)\n", pid, err)
			return 1
		}
	}
	fmt.Println("none left")
	return 0
}

// A worker's children that outlive it, in its process group or in a
// session of their own, die with it or when the broker stops: nothing of a
// site outlives its broker. (In a process of its own: it becomes a
// subreaper.)
func TestOrphansDie(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), shimTestRole+"=subreaper")
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "none left" {
		t.Errorf("subreaper: %v: %s", err, out)
	}
}

// dead says pid has exited: gone, or a zombie.
func dead(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	return len(f) > 0 && (f[0] == "Z" || f[0] == "X")
}

// TestChildPids: every child is listed, whichever thread started it.
func TestChildPids(t *testing.T) {
	var cmds []*exec.Cmd
	t.Cleanup(func() {
		for _, c := range cmds {
			c.Process.Kill()
			c.Wait()
		}
	})
	done := make(chan *exec.Cmd)
	for range 4 {
		go func() {
			runtime.LockOSThread() // each from a thread of its own
			defer runtime.UnlockOSThread()
			c := exec.Command("sleep", "60")
			if err := c.Start(); err != nil {
				t.Error(err)
				c = nil
			}
			done <- c
		}()
	}
	for range 4 {
		if c := <-done; c != nil {
			cmds = append(cmds, c)
		}
	}
	got := childPids()
	for _, c := range cmds {
		if !slices.Contains(got, c.Process.Pid) {
			t.Errorf("child %d not in childPids() = %v", c.Process.Pid, got)
		}
	}
}

func BenchmarkChildPids(b *testing.B) {
	for b.Loop() {
		childPids()
	}
}

// TestZombie: a child that has exited and is not reaped is seen, and is
// still there to be reaped afterwards; none is seen once it is.
func TestZombie(t *testing.T) {
	c := exec.Command("true")
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	pid := c.Process.Pid
	deadline := time.Now().Add(10 * time.Second)
	for !zombie() {
		if time.Now().After(deadline) {
			t.Fatal("the exited child was never seen")
		}
		runtime.Gosched()
	}
	var ws unix.WaitStatus
	if got, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil); got != pid || err != nil {
		t.Fatalf("wait4 after zombie() = %d, %v: zombie() must not reap", got, err)
	}
	if zombie() {
		t.Error("zombie() once the child was reaped")
	}
}
