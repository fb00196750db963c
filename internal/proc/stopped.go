package proc

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Stopped reports whether every thread of process pid is stopped (state T
// in /proc): SIGSTOP is delivered to each thread as it next runs, so a
// process that was just sent it may still run for a moment, and tests that
// stop a worker wait for this before they count on it.
func Stopped(pid int) bool {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
	if err != nil || len(tasks) == 0 {
		return false
	}
	for _, task := range tasks {
		if f, ok := statFields(task); !ok || f[0] != "T" {
			return false
		}
	}
	return true
}

// statFields returns the fields of a /proc stat file that follow the
// command: state, ppid, pgrp, ... The command is in parentheses and may
// itself hold spaces or parentheses. ok is false when the file cannot be
// read (the process is gone).
func statFields(path string) (fields []string, ok bool) {
	b, err := os.ReadFile(path)
	i := bytes.LastIndexByte(b, ')')
	if err != nil || i < 0 {
		return nil, false
	}
	fields = strings.Fields(string(b[i+1:]))
	return fields, len(fields) > 2
}
