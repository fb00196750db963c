// Package logfile is a log file that can be reopened, so that logrotate (or
// newsyslog) can move it away and signal the writer: the broker reopens its
// log file on SIGUSR1.
package logfile
