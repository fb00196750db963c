package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// Machine is what the figures were measured on.
type Machine struct {
	Date     string            `json:"date"` // RFC 3339, UTC
	CPU      string            `json:"cpu"`
	Cores    int               `json:"cores"`
	MemTotal string            `json:"mem_total"`
	Kernel   string            `json:"kernel"`
	OS       string            `json:"os"`
	Go       string            `json:"go"`
	Commit   string            `json:"commit"` // zsm's git commit, "+dirty" with local changes
	User     string            `json:"user"`   // root or not: the cold start needs root
	Tools    map[string]string `json:"tools"`  // versions of wrk, haproxy, systemd, perf
}

// describeMachine gathers Machine; what cannot be read stays empty.
func describeMachine(ctx context.Context, root string, tools map[string]string) Machine {
	m := Machine{
		Date:  time.Now().UTC().Format(time.RFC3339),
		Cores: runtime.NumCPU(),
		Go:    runtime.Version(),
		Tools: map[string]string{},
		User:  "not root",
	}
	if isRoot() {
		m.User = "root"
	}
	m.CPU = procField("/proc/cpuinfo", "model name", ":")
	m.MemTotal = procField("/proc/meminfo", "MemTotal", ":")
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	m.OS = strings.Trim(procField("/etc/os-release", "PRETTY_NAME", "="), `"`)
	if out, err := gitOutput(ctx, root, "rev-parse", "HEAD"); err == nil && out != "" {
		m.Commit = out
		if dirty, err := gitOutput(ctx, root, "status", "--porcelain", "--untracked-files=no"); err == nil && dirty != "" {
			m.Commit += "+dirty"
		}
	}
	versions := map[string][]string{
		"wrk":       {"--version"},
		"haproxy":   {"-v"},
		"systemctl": {"--version"},
		"perf":      {"--version"},
	}
	for name, args := range versions {
		if p, ok := tools[name]; ok {
			if v := firstLine(ctx, root, p, args...); v != "" {
				v, _, _ = strings.Cut(v, " Copyright")
				m.Tools[name] = v
			}
		}
	}
	return m
}

// procField returns the value of the first "KEY<sep> value" line of path.
func procField(path, key, sep string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), sep)
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// gitOutput runs git in dir and returns its standard output, trimmed.
func gitOutput(ctx context.Context, dir string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	return strings.TrimSpace(string(out)), err
}

// firstLine runs a command in dir and returns the first line it printed,
// on stdout or stderr (wrk prints its version as part of its usage, and
// exits 1).
func firstLine(ctx context.Context, dir, name string, args ...string) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	out, _ := cmd.CombinedOutput()
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return strings.TrimSpace(line)
}
