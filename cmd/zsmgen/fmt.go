package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/zsm-dev/zsm/internal/config/hclconfig"
	"github.com/zsm-dev/zsm/internal/config/hclfmt"
)

// fmtCmd is `zsmgen fmt [--check] FILE...`: it rewrites each file in its
// canonical layout (hclfmt.Format) and names those it changed; with
// --check it changes nothing, names the files that are not formatted and
// fails if there is one. A file that does not parse is left as it is,
// its problems printed as check prints them; the other files are still
// formatted.
func fmtCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("fmt", flag.ContinueOnError)
	fs.SetOutput(stderr)
	check := fs.Bool("check", false, "change nothing: name the files that are not formatted, and exit 1 if there is one")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usageError("fmt [--check] FILE...")
	}
	failed := false
	for _, path := range fs.Args() {
		changed, err := fmtFile(path, !*check)
		if err != nil {
			if err := problems(path, err, stderr); !errors.Is(err, errReported) {
				fmt.Fprintln(stderr, "zsmgen:", err)
			}
			failed = true
			continue
		}
		if changed {
			fmt.Fprintln(stdout, path)
			failed = failed || *check
		}
	}
	if failed {
		return errReported
	}
	return nil
}

// fmtFile formats the file at path and says whether that changes it;
// when write is set, a change is written in place, atomically: the new
// content goes to a temporary file that is renamed over the old one (over
// a symbolic link's target), with the old one's permissions.
func fmtFile(path string, write bool) (changed bool, err error) {
	src, err := readConfig(path)
	if err != nil {
		return false, err
	}
	out, err := hclfmt.Format(path, src)
	if err != nil || bytes.Equal(out, src) || !write {
		return err == nil && !bytes.Equal(out, src), err
	}
	target, err := filepath.EvalSymlinks(path)
	if err != nil {
		return false, err
	}
	fi, err := os.Stat(target)
	if err != nil {
		return false, err
	}
	return true, writeFile(target, out, fi.Mode().Perm())
}

// readConfig reads a configuration file, at most one byte past the
// largest that hclconfig takes, as hclconfig.Load does.
func readConfig(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, hclconfig.MaxFileSize+1))
}
