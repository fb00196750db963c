// Package nosystemd runs zsm as a host without systemd does: the rc
// script, the inittab line and the crontab lines that zsmgen writes, run
// against the real broker binding its own sockets, outside any systemd
// harness (no LISTEN_FDS, no NOTIFY_SOCKET, no journal). Its tests are
// all there is to it.
package nosystemd
