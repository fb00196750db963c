package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/zsm-dev/zsm/internal/config"
	"github.com/zsm-dev/zsm/internal/config/hclconfig"
	"github.com/zsm-dev/zsm/internal/snapshot"
)

func check(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageError("check FILE")
	}
	f, err := load(fs.Arg(0), stderr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %s\n", fs.Arg(0), summary(f))
	return nil
}

// load decodes a config file, printing its problems, or its warnings, to
// stderr. Warnings do not fail the command: the file is used without what
// they are about.
func load(path string, stderr io.Writer) (*config.File, error) {
	f, _, err := loadDigest(path, stderr)
	return f, err
}

// loadDigest is load, which also returns the file's snapshot.Digest.
func loadDigest(path string, stderr io.Writer) (*config.File, string, error) {
	src, err := hclconfig.Read(path)
	if err != nil {
		return nil, "", err
	}
	home, _ := os.UserHomeDir()
	f, err := hclconfig.Parse(path, src, hclconfig.Options{Home: home})
	if err != nil {
		return nil, "", problems(path, err, stderr)
	}
	for _, w := range f.Warnings {
		fmt.Fprintln(stderr, warning(w))
	}
	if n := len(f.Warnings); n > 0 {
		fmt.Fprintf(stderr, "%d warning%s in %s\n", n, plural(n), path)
	}
	return f, snapshot.Digest(f.Path, home, src), nil
}

// problems prints a file's problems (an *hclconfig.Error), each as
// file:line:col with its line, and their count; it returns errReported.
// Another error it returns as it is.
func problems(path string, err error, stderr io.Writer) error {
	var ce *hclconfig.Error
	if !errors.As(err, &ce) {
		return err
	}
	fmt.Fprintln(stderr, ce.Error())
	n := len(ce.Diagnostics)
	fmt.Fprintf(stderr, "%d problem%s in %s\n", n, plural(n), path)
	return errReported
}

// warning formats w as "FILE:LINE:COL: WARNING: Summary: Detail".
func warning(w config.Warning) string {
	msg := "WARNING: " + w.Problem.Error()
	if w.At == "" {
		return msg
	}
	return w.At + ": " + msg
}

// summary is check's one line: "2 sites ok: blog (handoff, 2 addresses), ..."
func summary(f *config.File) string {
	var parts []string
	for _, s := range f.Sites {
		parts = append(parts, fmt.Sprintf("%s (%s, %d address%s)", s.Name, s.Mode, len(s.Listen), pluralEs(len(s.Listen))))
	}
	if len(parts) == 0 {
		return "ok, no sites"
	}
	return fmt.Sprintf("%d site%s ok: %s", len(f.Sites), plural(len(f.Sites)), strings.Join(parts, ", "))
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func pluralEs(n int) string {
	if n == 1 {
		return ""
	}
	return "es"
}
