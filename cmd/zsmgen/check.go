package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/zsm-dev/zsm/internal/config"
	"github.com/zsm-dev/zsm/internal/config/hclconfig"
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

// load decodes a config file, printing its problems to stderr.
func load(path string, stderr io.Writer) (*config.File, error) {
	f, err := hclconfig.Load(path)
	var ce *hclconfig.Error
	if errors.As(err, &ce) {
		fmt.Fprintln(stderr, ce.Error())
		n := len(ce.Diagnostics)
		fmt.Fprintf(stderr, "%d problem%s in %s\n", n, plural(n), path)
		return nil, errReported
	}
	return f, err
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
