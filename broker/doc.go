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
//     their own ports, splicing bytes in the kernel (relay.go, pump.go).
//
// Where to read:
//
//   - pool.go: the pool and its loop. One goroutine (Run's) owns all pool
//     state: it waits in the relay (an epoll set) for sockets, work posted
//     by its helpers (process waiters, probes, the notify socket) and
//     control requests (control.go), and runs the timers at every tick.
//   - mode.go: how the modes differ, as one interface chosen once by
//     newMode; handoff.go, listen.go and proxy.go implement it. The rest
//     of the package never asks which mode it runs.
//   - worker.go: a worker's life, starting → ready → draining → gone, with
//     one transition function (pool.move) and the pool's named questions.
//   - queue.go: accepted connections, dispatch, the explicit failure
//     (refuse.go), and the fd store across restarts.
//   - timers.go, crash.go, recycle.go, reload.go: shrinking, deadlines,
//     stopping, backoff and the breaker, recycling, reloads.
//
// What happens is emitted as typed events (internal/event) to Config.Events;
// Status, Reload, SetPool and Drain make the broker a control.Controller.
// The package declares the small interfaces it needs (Notifier, Spawner,
// FDStore) and imports no systemd, D-Bus or HCL library
// (internal/rules tests that).
package broker
