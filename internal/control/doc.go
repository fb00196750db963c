// Package control is how a running broker is driven. [Controller] is what
// every control plane calls — signals, D-Bus, the status page, and this
// package's control socket, through which `zsm status`, `zsm reload` and
// `zsm drain` reach a broker on any host, with or without systemd or a
// session bus.
//
// The socket is $XDG_RUNTIME_DIR/zsm/SITE.control, mode 0600 in a 0700
// directory: only the user who runs the broker may use it. One request per
// connection, one line each way:
//
//	> STATUS                  < OK {"Site":"blog",...}   (status.Site as JSON)
//	> RELOAD                  < OK                       (once the reload is done)
//	> RELOAD-ASYNC            < OK                       (once it is asked for)
//	> SET-POOL MIN_IDLE MAX   < OK
//	> DRAIN                   < OK
//
// Any request may be answered "ERROR reason", the reason on one line.
package control
