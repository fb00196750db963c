// Package pidfile keeps the pid file of a broker that runs without systemd,
// where rc scripts, inittab and cron find it by its pid file.
//
// The file is locked (flock(2)) for as long as the broker runs, so that
// "another broker holds it" is the kernel's answer, not a guess from a pid
// that may have been reused: a file left behind by a broker that was killed
// is unlocked, hence stale, and is taken over.
//
// A pid file may live in a directory others can write to, as /tmp, where
// they can put a symbolic or hard link at its name before the broker
// starts. So the file is opened with O_NOFOLLOW relative to its
// directory's fd (openat(2)), must be a regular file of this user's with a
// single link, and is checked, written and removed through the fds Acquire
// opened, never through its path again (see Acquire and File.Remove).
package pidfile
