package hclfmt

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zsm-dev/zsm/internal/config/hclconfig"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/fmt")

// fmtInputs are the golden tests' inputs: testdata/fmt/NAME.in.hcl, each
// formatted into NAME.out.hcl.
func fmtInputs(t testing.TB) []string {
	t.Helper()
	ins, err := filepath.Glob(filepath.Join("testdata", "fmt", "*.in.hcl"))
	if err != nil || len(ins) == 0 {
		t.Fatalf("no golden inputs in testdata/fmt: %v", err)
	}
	return ins
}

// TestFormatGolden: each input formats into its golden output (go test
// -update rewrites them), and formatting an output changes nothing.
func TestFormatGolden(t *testing.T) {
	for _, in := range fmtInputs(t) {
		name := strings.TrimSuffix(filepath.Base(in), ".in.hcl")
		t.Run(name, func(t *testing.T) {
			src, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Format(in, src)
			if err != nil {
				t.Fatal(err)
			}
			out := strings.TrimSuffix(in, ".in.hcl") + ".out.hcl"
			if *update {
				if err := os.WriteFile(out, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(out)
			if err != nil {
				t.Fatalf("%v (go test -update writes it)", err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("Format(%s) differs from %s (-want +got):\n%s", in, out, diff)
			}
			again, err := Format(out, want)
			if err != nil || !bytes.Equal(again, want) {
				t.Errorf("formatting %s again changes it (err %v):\n%s", out, err, cmp.Diff(string(want), string(again)))
			}
		})
	}
}

// TestFormatKeepsWhatIsWritten: formatting changes only space. Every
// token but line ends is kept, in order, byte for byte (a line comment's
// "\r\n" becomes "\n"): comments of every kind survive, and the text of
// strings and heredocs is untouched. The examples in contrib/ are
// formatted already.
func TestFormatKeepsWhatIsWritten(t *testing.T) {
	files := fmtInputs(t)
	examples, _ := filepath.Glob(filepath.Join("..", "..", "..", "contrib", "examples", "*.hcl"))
	if len(examples) == 0 {
		t.Fatal("no examples in contrib/examples")
	}
	for _, path := range append(files, examples...) {
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Format(path, src)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(written(src), written(got)); diff != "" {
			t.Errorf("%s: formatting changed more than space (-before +after):\n%s", path, diff)
		}
		if strings.Contains(path, "examples") && !bytes.Equal(got, src) {
			t.Errorf("%s is not formatted: run zsmgen fmt %s", path, path)
		}
	}
}

// TestFormatKeepsComments: every comment survives formatting, in its
// place among the other tokens (TestFormatKeepsWhatIsWritten) and with its
// text: line comments (# and //), block comments over one line and over
// several, after an opening brace, at the end of a line, inside an
// argument, at the end of a block and of a file without a line end.
func TestFormatKeepsComments(t *testing.T) {
	in := filepath.Join("testdata", "fmt", "comments.in.hcl")
	src, err := os.ReadFile(in)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Format(in, src)
	if err != nil {
		t.Fatal(err)
	}
	before, after := comments(src), comments(got)
	if len(before) < 12 {
		t.Fatalf("%s has %d comments: the test would prove little", in, len(before))
	}
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("comments changed (-before +after):\n%s", diff)
	}
}

// comments lists src's comments, their line ends cut.
func comments(src []byte) []string {
	tokens, _ := hclsyntax.LexConfig(src, "", hcl.InitialPos)
	var cs []string
	for _, t := range tokens {
		if t.Type == hclsyntax.TokenComment {
			cs = append(cs, strings.TrimRight(string(t.Bytes), "\r\n"))
		}
	}
	return cs
}

// written lists src's tokens other than line ends, comments with their
// line end cut.
func written(src []byte) []string {
	tokens, _ := hclsyntax.LexConfig(src, "", hcl.InitialPos)
	var ws []string
	for _, t := range tokens {
		switch t.Type {
		case hclsyntax.TokenNewline, hclsyntax.TokenEOF:
		case hclsyntax.TokenComment:
			ws = append(ws, strings.TrimRight(string(t.Bytes), "\r\n"))
		default:
			ws = append(ws, string(t.Bytes))
		}
	}
	return ws
}

// TestFormatErrors: a file that does not parse is not formatted; its
// problems are reported with their file:line:col and line, as Parse
// reports them, and so is a file over a limit.
func TestFormatErrors(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"unclosed block", "site \"a\" {\n  listen = [\"x\"]\n", "f.hcl:1:10: Unclosed configuration block"},
		{"two arguments on a line", "site \"a\" {\n  pool { max = 1  min_idle = 1 }\n}\n",
			"f.hcl:2:19: Invalid single-argument block definition"},
		{"a missing value", "site \"a\" {\n  listen =\n}\n", "f.hcl:2:11: Invalid expression"},
		{"too deep", "a = " + strings.Repeat("[", 100) + strings.Repeat("]", 100) + "\n", "f.hcl:1:69: Nesting too deep"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := Format("f.hcl", []byte(tt.src))
			var e *hclconfig.Error
			if !errors.As(err, &e) || out != nil {
				t.Fatalf("Format = %q, %v; want an *Error", out, err)
			}
			if !strings.HasPrefix(e.Error(), tt.want) || !strings.Contains(e.Error(), " | ") {
				t.Errorf("error:\n%s\nwant it to start with %q and show the line", e, tt.want)
			}
		})
	}
}

// FuzzFormat: whatever parses formats, changing only space, and formats
// to itself again.
func FuzzFormat(f *testing.F) {
	for _, in := range fmtInputs(f) {
		src, err := os.ReadFile(in)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src)
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		got, err := Format("f.hcl", src)
		if err != nil {
			return
		}
		if diff := cmp.Diff(written(src), written(got)); diff != "" {
			t.Errorf("formatting changed more than space (-before +after):\n%s", diff)
		}
		again, err := Format("f.hcl", got)
		if err != nil || !bytes.Equal(again, got) {
			t.Errorf("not idempotent (err %v):\n%q\n%q", err, got, again)
		}
	})
}
