// Package completion holds zsm's shell completions, for bash, zsh and
// fish, of zsm(1) and zsmgen(1): commands, flags, files, and site names,
// those of the configuration file on the command line (zsm serve --site,
// zsmgen's --site) or those running on this host (zsm reload, status,
// drain).
//
// The tests load each script in its shell and complete command lines:
// bash's COMPREPLY; zsh's matches, captured in an interactive zsh on a
// pseudo-terminal (testdata/capture.zsh); fish's `complete -C`. `make deb`
// installs them where each shell looks:
//
//	bash/zsm, bash/zsmgen      /usr/share/bash-completion/completions/
//	zsh/_zsm, zsh/_zsmgen      /usr/share/zsh/vendor-completions/
//	fish/zsm.fish, zsmgen.fish /usr/share/fish/vendor_completions.d/
//
// cmd/zsm's and cmd/zsmgen's tests check that each names every command and
// flag of the command's usage.
package completion
