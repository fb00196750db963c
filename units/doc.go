// Package units turns a validated zsm configuration into systemd user units,
// and plans how to bring a unit directory up to date with them; for hosts
// without systemd, into LSB init scripts ([RC]), /etc/inittab lines
// ([Inittab]) and crontab lines ([Crontab]) that run the broker with its own
// sockets and a pid file (docs/nosystemd.md).
//
// [Generate] renders one template pair shared by every site, zsm@.socket and
// zsm@.service, plus two drop-ins per site, zsm@NAME.socket.d/zsmgen.conf
// (the site's ListenStream= lines) and zsm@NAME.service.d/zsmgen.conf (its
// config path, stop timeout and resource limits). Enabling zsm@NAME.socket is
// then all a user does: systemd holds the listening sockets and starts
// "zsm serve --site NAME" on the first connection.
//
// [Plan] compares the generated files with what a unit directory holds and
// says what to write and what to remove. It only ever touches files that
// carry zsmgen's header line (see [ParseHeader]), and removes only drop-ins
// generated from the same configuration file.
//
// The package is pure: it reads and writes no files. The zsmgen command does
// the disk I/O and the systemctl daemon-reload.
//
// The unit file syntax and settings it implements are specified in
// systemd.syntax(7) https://www.freedesktop.org/software/systemd/man/systemd.syntax.html,
// systemd.unit(5) https://www.freedesktop.org/software/systemd/man/systemd.unit.html,
// systemd.socket(5) https://www.freedesktop.org/software/systemd/man/systemd.socket.html,
// systemd.service(5) https://www.freedesktop.org/software/systemd/man/systemd.service.html,
// systemd.exec(5) https://www.freedesktop.org/software/systemd/man/systemd.exec.html and
// systemd.resource-control(5) https://www.freedesktop.org/software/systemd/man/systemd.resource-control.html.
// Values are escaped by this package's own small escapers (escape.go), since
// go-systemd's unit package escapes nothing.
package units
