// Package syslog sends the broker's log to the host's syslog daemon when no
// journal runs: the datagram socket /dev/log, in the traditional format
// that every syslogd reads (RFC 3164 as sent by glibc's syslog(3)):
//
//	<PRI>Mmm dd hh:mm:ss TAG[PID]: MESSAGE
//
// with the daemon facility. [Handler] turns slog records into such lines
// ("worker ready site=blog pid=42");
// [Conn.Lines] does the same for an app's output, a line per message.
package syslog
