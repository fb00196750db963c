// Package systemdtest runs integration tests against a real systemd user
// manager, journald and user D-Bus bus: the harness test/with-systemd starts
// them in a private mount + pid namespace and a cgroup of their own (see
// "A real systemd user manager for tests" in FACTS.md).
//
// A package of integration tests calls [Main] from its TestMain:
//
//	func TestMain(m *testing.M) { systemdtest.Main(m) }
//
// Run as root, `go test -count=1 ./test/...` then re-executes each test
// binary under test/with-systemd; everywhere else the tests run as usual and
// every test that calls [Require] skips, so plain `go test ./...` passes on a
// laptop. Use -count=1: the go command cannot see what the harness depends
// on and would cache results. Each test binary gets a harness of its own, so
// packages tested in parallel do not share a manager. (Under
// `test/with-systemd go test ./...` instead, Main sees ZSM_HARNESS=1 and all
// packages share one manager: add -p 1 if more than one uses [UnitDir].)
//
// Inside the harness, [Systemctl] and [Journal] run `systemctl --user` and
// `journalctl` (on the harness's own journal only) and fail the test on
// error; [Eventually] polls a condition with a bound; [BuildBinaries] builds
// the module's commands once per test binary.
//
// # Unit files
//
// A running `systemd --user` reads units only from the search path it
// computed at start from its own environment, so a test cannot simply hand it
// another XDG_CONFIG_HOME. The harness therefore starts it with
// XDG_CONFIG_HOME set to a symlink ($ZSM_HARNESS_CONFIG_HOME), and [UnitDir]
// points that symlink at a fresh t.TempDir() for the duration of one test,
// sets the test's XDG_CONFIG_HOME to the symlink and runs daemon-reload: the
// manager re-reads its search path on every reload, so unit files written to
// $XDG_CONFIG_HOME/systemd/user, drop-in directories and `systemctl --user
// enable` symlinks behave as on a real machine, and the test, the manager
// (FragmentPath=) and the units it starts (their environment names the
// symlink too) agree on every path. One symlink means one such directory at a
// time: UnitDir uses t.Setenv, so Go refuses it in parallel tests. Its cleanup
// stops every unit still running from that directory, points the symlink back
// and reloads. Give units names that are unique per test all the same: the
// manager, journal and bus are shared by the whole test binary.
//
// The journal holds only this run's entries (the harness's journald writes to
// a tmpfs). User units' entries carry _SYSTEMD_USER_UNIT=, so
// `journalctl --user-unit=NAME` finds them as on a real machine.
package systemdtest
