package hclconfig

import (
	"fmt"
	"strings"
	"testing"
)

// TestErrorLongLine: of a long line, Error shows the part around the
// problem, the caret still under it.
func TestErrorLongLine(t *testing.T) {
	_, err := parse(t, "site \"a\" {\n  listen  = [\"127.0.0.1:1\"]\n  command = [\"x\"]\n  "+
		strings.Repeat("y", 1000)+" = 1\n}\n")
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 3 {
		t.Fatalf("got\n%v", err)
	}
	head, _, _ := strings.Cut(lines[0], ": ")
	if head != "/etc/zsm/site.hcl:4:3" {
		t.Errorf("problem at %s, want 4:3", head)
	}
	if len(lines[0]) > maxMessage+100 || !strings.HasSuffix(lines[0], "…") {
		t.Errorf("message of %d bytes, not cut: %.80s", len(lines[0]), lines[0])
	}
	if want := "    4 |   " + strings.Repeat("y", maxLineShown-2) + "…"; lines[1] != want {
		t.Errorf("line shown as\n%s\nwant\n%s", lines[1], want)
	}
	if want := "      |   " + strings.Repeat("^", maxLineShown-2); lines[2] != want {
		t.Errorf("caret\n%s\nwant\n%s", lines[2], want)
	}
}

// TestErrorMiddleOfLine: a problem far along a line is shown with the
// text before it.
func TestErrorMiddleOfLine(t *testing.T) {
	_, err := parse(t, "site \"a\" {\n  listen  = [\"127.0.0.1:1\"]\n  command = ["+
		strings.Repeat(`"x", `, 200)+"1 + 1]\n}\n")
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "/etc/zsm/site.hcl:3:1014: Operators not allowed") {
		t.Fatalf("got\n%v", err)
	}
	if !strings.HasPrefix(lines[1], "    3 | …") || !strings.Contains(lines[1], `"x", 1 + 1]`) {
		t.Errorf("line shown as %s", lines[1])
	}
	caret := strings.Index(lines[2], "^") - len("      | ")
	shown := []rune(lines[1][len("    3 | "):])
	if got := string(shown[caret : caret+5]); got != "1 + 1" {
		t.Errorf("caret under %q, want under 1 + 1\n%s\n%s", got, lines[1], lines[2])
	}
}

// TestErrorCountsTheRest: Error shows the first maxShown problems and
// counts the others.
func TestErrorCountsTheRest(t *testing.T) {
	var bogus strings.Builder
	for i := range 150 {
		fmt.Fprintf(&bogus, "  bogus%d = 1\n", i)
	}
	_, err := parse(t, "site \"a\" {\n  listen  = [\"127.0.0.1:1\"]\n  command = [\"x\"]\n"+bogus.String()+"}\n")
	e := err.(*Error)
	if len(e.Diagnostics) != 150 {
		t.Errorf("%d problems, want 150", len(e.Diagnostics))
	}
	msg := err.Error()
	if n := strings.Count("\n"+msg, "\n/etc/zsm/site.hcl:"); n != maxShown {
		t.Errorf("%d problems shown, want %d", n, maxShown)
	}
	if !strings.HasSuffix(msg, "\n(and 50 more problems)") {
		t.Errorf("does not count the rest: ...%s", msg[len(msg)-60:])
	}
}

// TestTooManyProblems: decoding stops at the site after the thousandth
// problem.
func TestTooManyProblems(t *testing.T) {
	_, err := parse(t, strings.Repeat("site \"a\" {}\n", 2000))
	e := err.(*Error)
	last := e.Diagnostics[len(e.Diagnostics)-1]
	if last.Summary != "Too many problems" || len(e.Diagnostics) > maxProblems+3 {
		t.Errorf("%d problems, the last %q", len(e.Diagnostics), last.Summary)
	}
}
