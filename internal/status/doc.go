// Package status is a site's state as plain data: what a broker reports
// and what every status surface shows — the D-Bus properties
// (docs/dbus.md), the control socket, the web page and `zsm status`. It
// imports nothing but the standard library, so that each surface takes
// only what it needs.
//
// Field names are the D-Bus property names of interface dev.zsm.Site1 and
// the JSON keys of the page and of `zsm status --json`; they change only
// with that interface's version. Listen is the one field that is not a
// property: `zsm status` takes it from the site's socket unit in systemd,
// as it does the states of sites whose broker is not running (StateIdle,
// ...).
package status
