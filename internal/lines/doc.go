// Package lines splits an app's output into lines for a log that takes
// one message per line (syslog) or must not interleave two apps' lines (a
// shared log file).
package lines
