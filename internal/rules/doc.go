// Package rules holds the repository's rules as tests, so that breaking
// one fails `go test ./...` with the reason beside it: the direction of
// imports (cmd → broker, units → internal → activation), which packages
// may use which dependency, the size of files and functions, no branch on
// the site's mode in the broker's core, and a doc.go in every package.
// It has no code of its own.
package rules
