// Package man holds zsm's manual pages, in roff with the man macros
// (man(7)), and the tests that keep them true:
//
//   - zsm.1 and zsmgen.1, the commands, are written by hand; a test checks
//     that each names every command and flag of the command's usage;
//   - zsm.hcl.5, the configuration file, and zsm-protocol.7, the worker
//     protocol, are generated from docs/config.md and activation/PROTOCOL.md
//     by the tests (`go test ./contrib/man -update` rewrites them; a test
//     fails while they differ), so that they cannot drift from the
//     documents they render; a test checks that zsm.hcl(5) shows every key
//     of docs/config.md with its default.
//
// Every page is rendered by man(1) (or groff) in the tests, which fail on
// any warning. `make deb` installs them, gzipped, in /usr/share/man.
package man
