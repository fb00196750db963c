// Package proc starts a site's workers as real processes: in their own
// process group, killed with the broker (PR_SET_PDEATHSIG), with extra fds
// from 3 on. For apps that take systemd's listening sockets it runs the
// exec shim (package shim): zsm-exec, or the zsm binary re-executed in a
// hidden mode, that sets LISTEN_PID to its own pid and then execs the app, since Go cannot run code
// between fork and exec (sd_listen_fds(3)).
package proc
