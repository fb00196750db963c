// Package broker is zsm's daemon core: it holds a site's listening sockets,
// starts the app's workers lazily on the first connection, keeps a warm pool,
// and hands work to them in one of three ways (DESIGN.md):
//
//   - handoff: the broker accepts and passes each connection's fd to the
//     least-loaded ready worker over the worker protocol
//     (activation/PROTOCOL.md);
//   - listen: every worker gets the listening sockets with LISTEN_FDS and
//     accepts from the kernel queue itself;
//   - proxy: the broker accepts and forwards to unmodified backends that bind
//     their own ports, splicing bytes in the kernel (relay.go).
//
// One goroutine (Run's) owns all pool state; accept loops, channel readers
// and process waiters feed it events. In proxy mode that goroutine is also
// the event loop that accepts, connects and copies. The package declares the small
// interfaces it needs (Notifier, Spawner) and imports no systemd, D-Bus or
// HCL library.
package broker
