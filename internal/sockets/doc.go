// Package sockets gives the broker its listening sockets: the ones systemd
// passed (sd_listen_fds(3): LISTEN_FDS, LISTEN_PID, LISTEN_FDNAMES), matched
// to the site's listen addresses by the address each is bound to, or, off
// systemd, sockets it binds itself.
package sockets
