package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat:
// 100 on every Linux architecture Go supports.
const clockTicks = 100

// memory is a process's resident set from /proc/PID/status.
type memory struct {
	RSS  int64 // VmRSS, bytes
	Peak int64 // VmHWM, bytes: the highest RSS so far
}

// readMemory reads pid's VmRSS and VmHWM.
func readMemory(pid int) (memory, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memory{}, fmt.Errorf("memory of %d: %w", pid, err)
	}
	defer f.Close()
	var m memory
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		f := strings.Fields(v) // "12345 kB"
		if len(f) != 2 || f[1] != "kB" {
			return memory{}, fmt.Errorf("memory of %d: %s: %q", pid, k, v)
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return memory{}, fmt.Errorf("memory of %d: %s: %w", pid, k, err)
		}
		if k == "VmRSS" {
			m.RSS = n << 10
		} else {
			m.Peak = n << 10
		}
	}
	if err := sc.Err(); err != nil {
		return memory{}, fmt.Errorf("memory of %d: %w", pid, err)
	}
	if m.RSS == 0 {
		return memory{}, fmt.Errorf("memory of %d: no VmRSS (a zombie?)", pid)
	}
	return m, nil
}

// procStat holds the fields of /proc/PID/stat the bench uses.
type procStat struct {
	state byte
	ppid  int
	cpu   time.Duration // utime + stime, every thread
}

// readStat reads /proc/PID/stat.
func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	// The command (field 2) may hold spaces and parentheses: the fields
	// that follow start after its last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: %q", pid, b)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state), f[1] field 4 (ppid), f[11] and f[12]
	// fields 14 and 15 (utime, stime).
	if len(f) < 13 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: %q", pid, b)
	}
	ppid, err1 := strconv.Atoi(f[1])
	ut, err2 := strconv.ParseInt(f[11], 10, 64)
	st, err3 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return procStat{}, fmt.Errorf("/proc/%d/stat: %q", pid, b)
	}
	return procStat{
		state: f[0][0],
		ppid:  ppid,
		cpu:   time.Duration(ut+st) * time.Second / clockTicks,
	}, nil
}

// cpuTime is the CPU time pid has used so far, user and system.
func cpuTime(pid int) (time.Duration, error) {
	s, err := readStat(pid)
	if err != nil {
		return 0, fmt.Errorf("cpu time of %d: %w", pid, err)
	}
	return s.cpu, nil
}

// pids lists every process.
func pids() ([]int, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var ps []int
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			ps = append(ps, pid)
		}
	}
	return ps, nil
}

// children returns parent's live (not zombie) child processes.
func children(parent int) ([]int, error) {
	all, err := pids()
	if err != nil {
		return nil, err
	}
	var kids []int
	for _, pid := range all {
		s, err := readStat(pid)
		if err == nil && s.ppid == parent && s.state != 'Z' {
			kids = append(kids, pid)
		}
	}
	return kids, nil
}

// openFiles counts pid's open file descriptors.
func openFiles(pid int) (int, error) {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0, err
	}
	return len(ents), nil
}

// withEnv returns the live processes whose environment holds kv
// ("KEY=VALUE"), however deep below the bench they were started.
func withEnv(kv string) ([]int, error) {
	all, err := pids()
	if err != nil {
		return nil, err
	}
	want := []byte("\x00" + kv + "\x00")
	var found []int
	for _, pid := range all {
		env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if err != nil || !bytes.Contains(append([]byte{0}, env...), want) {
			continue
		}
		if s, err := readStat(pid); err == nil && s.state != 'Z' {
			found = append(found, pid)
		}
	}
	return found, nil
}

// fileLimit is pid's soft RLIMIT_NOFILE, from /proc/PID/limits.
func fileLimit(pid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "Max open files"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				return strconv.Atoi(f[0])
			}
		}
	}
	return 0, fmt.Errorf("/proc/%d/limits: no Max open files", pid)
}
