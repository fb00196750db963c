package hclconfig

import (
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// Error is every problem found in a configuration file.
type Error struct {
	Diagnostics hcl.Diagnostics
	files       map[string]*hcl.File
}

// Error renders each problem as "file:line:col: summary: detail", followed
// by the source line and a caret under the offending text.
func (e *Error) Error() string {
	var b strings.Builder
	for i, d := range e.Diagnostics {
		if i > 0 {
			b.WriteByte('\n')
		}
		msg := d.Summary
		if d.Detail != "" {
			msg += ": " + d.Detail
		}
		if d.Subject == nil {
			b.WriteString(msg)
			continue
		}
		r := *d.Subject
		fmt.Fprintf(&b, "%s:%d:%d: %s", r.Filename, r.Start.Line, r.Start.Column, msg)
		if line, ok := e.line(r); ok {
			fmt.Fprintf(&b, "\n%5d | %s\n      | %s", r.Start.Line, line, caret(line, r))
		}
	}
	return b.String()
}

// line returns the source line where r starts.
func (e *Error) line(r hcl.Range) (string, bool) {
	f := e.files[r.Filename]
	if f == nil {
		return "", false
	}
	lines := strings.Split(string(f.Bytes), "\n")
	if r.Start.Line < 1 || r.Start.Line > len(lines) {
		return "", false
	}
	return strings.TrimRight(lines[r.Start.Line-1], "\r"), true
}

// caret underlines r's part of line, keeping tabs so the marks line up.
func caret(line string, r hcl.Range) string {
	runes := []rune(line)
	start := min(max(r.Start.Column-1, 0), len(runes))
	n := 1
	if r.End.Line == r.Start.Line && r.End.Column > r.Start.Column {
		n = r.End.Column - r.Start.Column
	}
	var b strings.Builder
	for _, c := range runes[:start] {
		if c == '\t' {
			b.WriteByte('\t')
		} else {
			b.WriteByte(' ')
		}
	}
	b.WriteString(strings.Repeat("^", n))
	return b.String()
}
