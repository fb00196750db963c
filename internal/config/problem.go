package config

import (
	"fmt"
	"strings"
)

// Problem is one broken rule of a site configuration: the key that breaks
// it, and a message for the person who wrote the file.
type Problem struct {
	// Field is the key at fault, spelled as in the configuration file,
	// with a block's keys after the block's name: "name", "listen",
	// "mode", "pool.max", "backend.ports", "status.listen", "limits.cpu".
	// An element of a list or map follows its key in brackets, indexed as
	// in the Site: "listen[1]" is Site.Listen[1], "command[0]" is
	// Site.Command[0], and environment["APP_ENV"] (the name quoted as %q
	// quotes it) is the variable APP_ENV. A block's name alone ("pool",
	// "backend") means the block as a whole. File.Validate puts the site's
	// index in front: "sites[2].pool.max".
	Field string
	// Summary is a short title without a period: "Invalid pool".
	Summary string
	// Detail is one or more sentences saying what is wrong and, where it
	// helps, what would be right.
	Detail string
}

// Error returns "Summary: Detail".
func (p Problem) Error() string { return p.Summary + ": " + p.Detail }

// Problems is every problem found in a site or a file. A non-nil error
// from a Validate method is a Problems with at least one problem.
type Problems []Problem

// Error returns each problem's Error, one a line.
func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

// add records a problem with field.
func (ps *Problems) add(field, summary, format string, args ...any) {
	*ps = append(*ps, Problem{Field: field, Summary: summary, Detail: fmt.Sprintf(format, args...)})
}

// err returns ps as an error, nil when empty.
func (ps Problems) err() error {
	if len(ps) == 0 {
		return nil
	}
	return ps
}

// Warning is a problem that does not stop a configuration from being
// used: what it is about is left out, and the rest runs, so that an edit
// of the file never takes a site down.
type Warning struct {
	// At is where the problem's Field is written, "FILE:LINE:COL", or ""
	// when the decoder does not know.
	At      string
	Problem Problem
}

// String returns "AT: Summary: Detail", or "Summary: Detail" when At is
// not known.
func (w Warning) String() string {
	if w.At == "" {
		return w.Problem.Error()
	}
	return w.At + ": " + w.Problem.Error()
}
