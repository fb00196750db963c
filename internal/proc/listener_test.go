package proc

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// listenIn starts sh, whose child python3 listens with backlog 7, and
// returns sh's pid and the port.
func listenIn(t *testing.T) (int, int) {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Fatal("python3 is needed (make deps installs it)")
	}
	py := `import socket,sys,time; s=socket.socket(); s.bind(("127.0.0.1",0)); s.listen(7); print(s.getsockname()[1], flush=True); sys.stdin.read()`
	cmd := exec.Command("sh", "-c", "python3 -c '"+py+"'; true")
	stdin, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid, port
}

func TestListenerIn(t *testing.T) {
	sh, port := listenIn(t)
	l, ok, err := ListenerIn(sh, port)
	if err != nil || !ok {
		t.Fatalf("ListenerIn(sh, %d) = %+v, %v, %v: the grandchild's socket not found", port, l, ok, err)
	}
	if l.Pid == sh || l.Backlog != 7 {
		t.Errorf("ListenerIn = %+v; want python3's pid (not sh's %d) and backlog 7", l, sh)
	}
	if h := PortHolder(port); h != "pid "+strconv.Itoa(l.Pid)+" (python3)" {
		t.Errorf("PortHolder(%d) = %q", port, h)
	}

	// A socket this process listens on is not the child's.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	mine := ln.Addr().(*net.TCPAddr).Port
	if l, ok, err := ListenerIn(sh, mine); ok || err != nil {
		t.Errorf("ListenerIn(sh, %d) = %+v, %v, %v: found a socket sh's tree does not hold", mine, l, ok, err)
	}
	// Go listens with MPTCP where the kernel has it: a TCP listener too.
	if l, ok, err := ListenerIn(os.Getpid(), mine); !ok || err != nil || l.Backlog < 1 {
		t.Errorf("ListenerIn(self, %d) = %+v, %v, %v: this process's Go listener not found", mine, l, ok, err)
	}
}
