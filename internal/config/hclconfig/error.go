package hclconfig

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
)

// Error is every problem found in a configuration file.
type Error struct {
	Diagnostics hcl.Diagnostics
	files       map[string]*hcl.File
}

// Rendering bounds: a file of garbage has as many problems as tokens, and
// a line may be the whole file.
const (
	maxShown      = 100  // problems Error renders; it counts the rest
	maxLineShown  = 120  // characters of a source line Error shows
	lineShownLead = 40   // of which before where the problem starts
	maxMessage    = 1000 // bytes of a message Error shows (a name may be long)
)

// Error renders each problem as "file:line:col: summary: detail", followed
// by the source line and a caret under the offending text. It renders the
// first 100 problems and counts the others; of a long line or message it
// shows the part around the problem, or the start.
func (e *Error) Error() string {
	var b strings.Builder
	for i, d := range e.Diagnostics {
		if i == maxShown {
			fmt.Fprintf(&b, "\n(and %d more problems)", len(e.Diagnostics)-i)
			break
		}
		if i > 0 {
			b.WriteByte('\n')
		}
		msg := d.Summary
		if d.Detail != "" {
			msg += ": " + d.Detail
		}
		if len(msg) > maxMessage {
			msg = strings.ToValidUTF8(msg[:maxMessage], "") + "…"
		}
		if d.Subject == nil {
			b.WriteString(msg)
			continue
		}
		r := *d.Subject
		fmt.Fprintf(&b, "%s:%d:%d: %s", r.Filename, r.Start.Line, r.Start.Column, msg)
		if line, ok := e.line(r); ok {
			shown, r := excerpt(line, r)
			fmt.Fprintf(&b, "\n%5d | %s\n      | %s", r.Start.Line, shown, caret(shown, r))
		}
	}
	return b.String()
}

// line returns the source line where r starts, found from its byte
// offset.
func (e *Error) line(r hcl.Range) ([]byte, bool) {
	f := e.files[r.Filename]
	if f == nil || r.Start.Byte < 0 || r.Start.Byte > len(f.Bytes) {
		return nil, false
	}
	src := f.Bytes
	start := bytes.LastIndexByte(src[:r.Start.Byte], '\n') + 1
	end := len(src)
	if i := bytes.IndexByte(src[r.Start.Byte:], '\n'); i >= 0 {
		end = r.Start.Byte + i
	}
	line := src[start:end]
	if start == 0 {
		line = bytes.TrimPrefix(line, []byte(bom))
	}
	return bytes.TrimRight(line, "\r"), true
}

// excerpt returns line, cut when longer than maxLineShown characters to
// those around where r starts with each cut marked "…", and r moved to
// match.
func excerpt(line []byte, r hcl.Range) (string, hcl.Range) {
	n := utf8.RuneCount(line)
	if n <= maxLineShown {
		return string(line), r
	}
	from := min(max(r.Start.Column-1-lineShownLead, 0), n-maxLineShown)
	to := from + maxLineShown
	shown := string(line[runeOffset(line, from):runeOffset(line, to)])
	shift := from
	if from > 0 {
		shown = "…" + shown
		shift--
	}
	r.Start.Column -= shift
	r.End.Column -= shift
	if to < n {
		shown += "…"
		if end := to - shift + 1; r.End.Line == r.Start.Line && r.End.Column > end {
			r.End.Column = end // the caret stops at the cut
		}
	}
	return shown, r
}

// runeOffset returns the byte offset of the i-th character of b.
func runeOffset(b []byte, i int) int {
	off := 0
	for ; i > 0 && off < len(b); i-- {
		_, size := utf8.DecodeRune(b[off:])
		off += size
	}
	return off
}

// caret underlines r's part of line, keeping tabs so the marks line up.
func caret(line string, r hcl.Range) string {
	runes := []rune(line)
	start := min(max(r.Start.Column-1, 0), len(runes))
	n := 1
	if r.End.Line == r.Start.Line && r.End.Column > r.Start.Column {
		n = min(r.End.Column-r.Start.Column, max(len(runes)-start, 1))
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
