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
// The units are built so that a site's socket is never left failed: no
// activation rate, crash loop or start limit takes it down, and nothing
// needs a human (reset-failed) to recover. systemd (252, Debian 12) fails
// a socket with Accept=no in two ways: when its service hits the service's
// start limit (service-start-limit-hit; every start counts, socket
// activations included, 5 in 10 s by default, so a site scaling to zero
// with exit_when_idle died at its sixth cold start in a row), and when the
// socket itself is triggered too often (trigger-limit-hit, 20 in 2 s by
// default). Hence:
//
//   - zsm@.service: StartLimitIntervalSec=0, no start limit. Starts are
//     paced by their cause instead: a waiting connection (a cold start) or
//     a failure (a restart).
//   - zsm@.service: Restart=on-failure with RestartSec=1s and no exit
//     status exempt. A broker that crashes, is killed, misses its watchdog
//     or exits non-zero is restarted a second later, never sooner, however
//     often: a crash loop is throttled to one start a second and stops by
//     itself once the cause is gone. While a restart is pending the socket
//     queues connections for it rather than start the broker sooner. A
//     clean exit (idle, SIGTERM) is not restarted; the next connection
//     starts the broker. No RestartPreventExitStatus=: a broker exiting
//     at once with an exempt status would be started again by the very
//     next connection, unpaced. (The growing delays of RestartSteps= are
//     systemd 254+.)
//   - zsm@.socket: TriggerLimitIntervalSec=1s, TriggerLimitBurst=500. The
//     socket is woken at most once per broker that started and went away,
//     which takes a process start each time (a cold start takes about
//     200 ms here), so no activation rate comes near 500 a second; the
//     limit remains to stop the manager spinning (about 4,000 triggers a
//     second) when the service cannot start at all, e.g. with a failing
//     Condition= in a drop-in of the user's.
//   - zsm@.socket: StartLimitIntervalSec=0. Nothing starts a socket in a
//     loop, so a start limit could only turn a quick run of restarts into
//     a socket left failed.
//
// No OnFailure= or ExecStopPost= is needed: with these settings nothing a
// broker does leaves either unit failed for good (a failed service is
// restarted, or started by the next connection, and the socket keeps
// listening), and a recovery unit that reset and restarted a failed socket
// would come too late: a failed socket has closed its listening sockets,
// refusing connections meanwhile. test/activation_rate_test.go checks all
// this through a real user manager: 50 cold starts in a row, a broker
// killed 15 times in a row, and the spin the trigger limit is left for.
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
