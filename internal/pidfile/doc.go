// Package pidfile keeps the pid file of a broker that runs without systemd,
// where rc scripts, inittab and cron find it by its pid file.
//
// The file is locked (flock(2)) for as long as the broker runs, so that
// "another broker holds it" is the kernel's answer, not a guess from a pid
// that may have been reused: a file left behind by a broker that was killed
// is unlocked, hence stale, and is taken over.
package pidfile
