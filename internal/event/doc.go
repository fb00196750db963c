// Package event is what the broker tells the world: typed events (a worker
// started, became ready, exited; a connection was refused; a reload
// finished), and the sinks they go to. The broker emits; the command wires
// the sinks: the journal, syslog, stderr or a file, D-Bus signals. No sink
// parses another's output: each reads the typed fields.
//
// A Sink must not block its caller. One that can stall (a socket nobody
// reads, a full disk, a busy bus) goes behind a [Queue], which is bounded
// and counts what it drops: losing a log line is better than losing a
// request.
package event
