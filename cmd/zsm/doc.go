// Command zsm is the zsm broker: `zsm serve --site NAME` runs one site of a
// configuration file (docs/config.md), normally started by systemd through
// the units zsmgen writes.
package main
