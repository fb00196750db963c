// Package shim is the exec shim that starts each worker: a process that
// the broker forks, that sets what must name the worker's own pid (its
// LISTEN_PID and WATCHDOG_PID, the journal streams of its stdout and
// stderr, which journald attributes to the pid that connected them) and
// then replaces itself with the app, which keeps that pid.
//
// It is on the path of every cold start, so it is kept small: a program
// of its own, zsm-exec, built from this package alone, starts in a third
// of the time the whole zsm binary takes (BENCHMARKS.md). zsm runs the
// same code as a hidden command when zsm-exec is not beside it.
package shim
