// Package version says which zsm a binary is: the main module's version
// and the version-control revision it was built from, as the Go toolchain
// records them in every binary (runtime/debug.ReadBuildInfo,
// https://pkg.go.dev/runtime/debug#BuildInfo).
//
// `go install github.com/zsm-dev/zsm/cmd/...@v1.2.0` records the tag and no
// revision; `make build` in a clone records a pseudo-version
// (v0.0.0-20261205083407-01cfce6c5b7f, +dirty when the work tree had
// changes) and the revision (`-buildvcs=auto`); a test binary or a build
// with `-buildvcs=false` records neither, and says "devel".
//
// `zsm --version` and `zsmgen --version` print it, the broker's first log
// line carries it, and every status surface shows it.
package version
