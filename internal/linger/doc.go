// Package linger tells whether systemd keeps a user's units running once
// the user has logged out. Without "lingering", logind stops the user's
// manager, and every site of the user with it, when the user's last
// session ends (systemd issue #3382); `loginctl enable-linger USER` turns
// it on (loginctl(1)).
//
// logind keeps one empty file per lingering user in /var/lib/systemd/linger
// and answers its user property Linger from it (org.freedesktop.login1(5)):
// the file is the source of truth, and reading it needs no bus. $ZSM_LINGER_DIR
// names another directory, for tests.
package linger
