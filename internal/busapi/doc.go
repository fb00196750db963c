// Package busapi puts each running site on the user's D-Bus session bus,
// and reads them back for `zsm status`. docs/dbus.md describes the
// interface, version 1:
//
//	bus name   dev.zsm.Site.NAME       (NAME escaped as go-systemd's PathBusEscape)
//	object     /dev/zsm/Site/NAME
//	interface  dev.zsm.Site1
//
// with read-only properties (status.Site's fields, emitting
// PropertiesChanged at most every Interval), the signals WorkerStarted,
// WorkerExited and Error (Server is an event.Sink), and the methods Reload,
// SetPool and Drain of control.Controller, which only the user who runs
// the broker may call.
//
// For `zsm status`, SocketUnits also asks systemd's user manager on the
// same bus (org.freedesktop.systemd1(5)) for the sites' socket units,
// zsm@NAME.socket, so that sites whose broker is not running are listed
// too: idle, or with why their socket failed.
package busapi
