// Package sockets gives the broker its listening sockets: the ones systemd
// passed (sd_listen_fds(3): LISTEN_FDS, LISTEN_PID, LISTEN_FDNAMES, read by
// activation.ListenFDs), matched to the site's listen addresses by the
// address each is bound to, or, off systemd (or when LISTEN_PID is another
// process), sockets it binds itself. AcceptQueue reads a listening
// socket's kernel accept queue and backlog (TCP_INFO, and sock_diag(7) for
// unix sockets).
package sockets
