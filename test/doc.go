// Package test holds zsm's integration tests: the broker, its units and
// its status surfaces run through a real systemd user manager, journald
// and session bus, inside the harness of package systemdtest
// (test/with-systemd). Without root they skip and say why. Its tests are
// all there is to it.
package test
