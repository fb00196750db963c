// Package activation gives a server one call, [Listen], that returns a
// [net.Listener] working the same three ways:
//
//   - under zsm handoff (ZSM_CHANNEL_FD set): connections accepted by the zsm
//     broker arrive over a private channel, as described in the zsm worker
//     protocol, version 1 (PROTOCOL.md beside this file,
//     https://github.com/zsm-dev/zsm/blob/main/activation/PROTOCOL.md);
//   - under systemd socket activation (LISTEN_PID, LISTEN_FDS,
//     LISTEN_FDNAMES; see sd_listen_fds(3)): the passed listening sockets are
//     used, and READY=1 is sent to $NOTIFY_SOCKET (sd_notify(3));
//   - standalone: the address given to Listen is bound.
//
// The [Listener] also tells the server when to stop ([Listener.Stopping]),
// so that a graceful stop finishes in-flight work and loses no connection.
//
// The package also exports the protocol's wire codec ([Parse],
// [Message.Format], [ParseHandoff], [ParseReport]) and its datagram transport
// ([ReadMessage], [WriteMessage]) for the broker's side of the channel, and
// [ListenFDs], the reading of systemd's socket activation variables that
// Listen uses, for programs that take the passed descriptors themselves.
//
// It is a leaf: it imports only the standard library and golang.org/x/sys/unix,
// so that an application importing it does not pull in the broker. It runs on
// Linux.
//
// File descriptors: every function that hands one out says who closes it.
package activation
