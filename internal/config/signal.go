package config

import (
	"fmt"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Signal names a signal as systemd's KillSignal= does, without its "SIG":
// "TERM", "QUIT", "INT".
type Signal string

// ParseSignal reads a signal's name, with or without "SIG", in any case:
// "QUIT", "SIGQUIT", "quit". A stop signal must be able to stop a
// process: STOP, TSTP, TTIN, TTOU and CONT cannot.
func ParseSignal(name string) (Signal, error) {
	n := strings.TrimPrefix(strings.ToUpper(name), "SIG")
	if n == "" || unix.SignalNum("SIG"+n) == 0 {
		return "", fmt.Errorf("%q is not a signal's name, such as \"TERM\", \"QUIT\" or \"INT\"", name)
	}
	switch n {
	case "STOP", "TSTP", "TTIN", "TTOU", "CONT":
		return "", fmt.Errorf("SIG%s pauses or resumes a process, it does not stop one", n)
	}
	return Signal(n), nil
}

// Num returns the signal's number; SIGTERM for the zero Signal.
func (s Signal) Num() syscall.Signal {
	if n := unix.SignalNum("SIG" + string(s)); n != 0 {
		return n
	}
	return syscall.SIGTERM
}
