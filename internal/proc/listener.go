package proc

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// A proxy-mode instance is ready when it listens on its port: not when
// something answers there, which may be an orphan of an earlier instance
// or another program. ListenerIn looks for the listening socket among the
// descriptors of the instance's own process tree, and PortHolder names
// whoever holds a port otherwise.

// Listener is a TCP socket listening on a port, held by a process.
type Listener struct {
	Pid     int // the process of the tree that holds it (the first found)
	Backlog int // its accept queue's length, as listen(2) set it and the kernel capped it
}

// ListenerIn finds a TCP socket listening on port among the descriptors
// of process pid and its descendants. It reports false when none of them
// holds one. Looking into another process's descriptors (pidfd_getfd(2))
// takes the right to trace it: an ancestor, or root, has it.
func ListenerIn(pid, port int) (Listener, bool, error) {
	seen := map[string]bool{}
	var errs []error
	for _, p := range tree(pid) {
		l, ok, err := listenerOf(p, port, seen)
		if ok {
			return l, true, nil
		}
		if err != nil && !errors.Is(err, unix.ESRCH) && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return Listener{}, false, errors.Join(errs...)
}

// tree lists pid and its descendants, parents first.
func tree(pid int) []int {
	pids := []int{pid}
	for i := 0; i < len(pids) && len(pids) < 4096; i++ {
		paths, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pids[i]))
		for _, path := range paths {
			b, _ := os.ReadFile(path)
			for f := range strings.FieldsSeq(string(b)) {
				if c, err := strconv.Atoi(f); err == nil {
					pids = append(pids, c)
				}
			}
		}
	}
	return pids
}

// listenerOf looks at the sockets of process pid not seen yet.
func listenerOf(pid, port int, seen map[string]bool) (Listener, bool, error) {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	fds, err := os.ReadDir(dir)
	if err != nil {
		return Listener{}, false, err
	}
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return Listener{}, false, os.NewSyscallError("pidfd_open", err)
	}
	defer unix.Close(pidfd)
	for _, d := range fds {
		link, err := os.Readlink(filepath.Join(dir, d.Name()))
		if err != nil || !strings.HasPrefix(link, "socket:") || seen[link] {
			continue
		}
		seen[link] = true
		target, _ := strconv.Atoi(d.Name())
		fd, err := unix.PidfdGetfd(pidfd, target, 0)
		if err != nil {
			return Listener{}, false, os.NewSyscallError("pidfd_getfd", err)
		}
		backlog, ok := listening(fd, port)
		unix.Close(fd)
		if ok {
			return Listener{Pid: pid, Backlog: backlog}, true, nil
		}
	}
	return Listener{}, false, nil
}

// listening reports whether fd is a TCP socket listening on port, and
// its backlog.
func listening(fd, port int) (int, bool) {
	if n, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN); err != nil || n != 1 {
		return 0, false
	}
	// Go's listeners are MPTCP sockets where the kernel has it.
	if n, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PROTOCOL); err != nil || n != unix.IPPROTO_TCP && n != unix.IPPROTO_MPTCP {
		return 0, false
	}
	sa, _ := unix.Getsockname(fd)
	bound := 0
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		bound = a.Port
	case *unix.SockaddrInet6:
		bound = a.Port
	}
	if bound != port {
		return 0, false
	}
	// On a listening socket, tcpi_sacked is the backlog (and
	// tcpi_unacked the connections waiting to be accepted).
	info, err := unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO)
	if err != nil {
		return 0, true
	}
	return int(info.Sacked), true
}

// PortHolder names the process that holds a TCP socket listening on port,
// as "pid 1234 (nginx)", from /proc; "" when it cannot tell (the holder
// is another user's, or in another network namespace).
func PortHolder(port int) string {
	inodes := map[string]bool{}
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		for _, ino := range listeningInodes(table, port) {
			inodes["socket:["+ino+"]"] = true
		}
	}
	if len(inodes) == 0 {
		return ""
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/fd")
	for _, dir := range procs {
		fds, _ := os.ReadDir(dir)
		for _, d := range fds {
			if link, _ := os.Readlink(filepath.Join(dir, d.Name())); inodes[link] {
				pid := filepath.Base(filepath.Dir(dir))
				comm, _ := os.ReadFile(filepath.Join(filepath.Dir(dir), "comm"))
				return fmt.Sprintf("pid %s (%s)", pid, strings.TrimSpace(string(comm)))
			}
		}
	}
	return ""
}

// listeningInodes returns the inodes of the sockets listening on port in a
// /proc/net/tcp table.
func listeningInodes(table string, port int) []string {
	f, err := os.Open(table)
	if err != nil {
		return nil
	}
	defer f.Close()
	want := fmt.Sprintf(":%04X", port)
	var inodes []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
		f := strings.Fields(sc.Text())
		if len(f) > 9 && f[3] == "0A" && strings.HasSuffix(f[1], want) {
			inodes = append(inodes, f[9])
		}
	}
	return inodes
}
