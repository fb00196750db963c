// Package sdnotify tells the service manager about the broker through
// sd_notify(3) (READY=1, RELOADING=1, STOPPING=1, STATUS=...). Off systemd
// (no $NOTIFY_SOCKET) New returns nil, and a nil *Notifier does nothing.
package sdnotify
