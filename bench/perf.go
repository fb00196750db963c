package main

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// perf starts `perf record -g -p PID` on s's broker for d when -perf asks
// for it and s is a zsm target, writing DIR/label.perf.data; the returned
// func waits for perf to finish (bounded) and must be called.
func (l *lab) perf(ctx context.Context, s *server, label string, d time.Duration) func() {
	if l.opts.perfDir == "" || !isZSM(s.target) {
		return func() {}
	}
	out := filepath.Join(l.opts.perfDir, sanitize(label)+".perf.data")
	cmd := exec.CommandContext(ctx, "perf", "record", "-g", "-F", "999", "-p", strconv.Itoa(s.main.pid()), "-o", out,
		"--", "sleep", fmt.Sprintf("%.3f", d.Seconds()))
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGINT) }
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(l.log, "  perf: %v\n", err)
		return func() {}
	}
	return func() {
		if err := cmd.Wait(); err != nil {
			fmt.Fprintf(l.log, "  perf record for %s: %v\n", label, err)
			return
		}
		fmt.Fprintf(l.log, "  perf: %s (perf report -i %s)\n", out, out)
	}
}
