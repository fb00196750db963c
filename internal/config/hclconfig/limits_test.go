package hclconfig

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// value is a site whose command is v, on line 3 from column 14.
func value(v string) string {
	return "site \"a\" {\n  listen  = [\"127.0.0.1:1\"]\n  command = [" + v + "]\n}\n"
}

// minimalSites is n valid sites of 24 tokens each, 4 lines each.
func minimalSites(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "site \"s%d\" {\n  listen  = [\"127.0.%d.%d:1\"]\n  command = [\"x\"]\n}\n", i, i>>8&255, i&255)
	}
	return b.String()
}

// compactSites is n valid sites of 24 tokens, 4 lines and 45 bytes each.
func compactSites(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "site \"s%d\" {\nlisten=[\":%d\"]\ncommand=[\"x\"]\n}\n", i, 1+i)
	}
	return b.String()
}

// realisticSites is n sites of 15 lines with nearly every key set, 90
// tokens each.
func realisticSites(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, `site "blog-%[1]d" {
  listen      = ["127.0.0.1:%[2]d", "unix:blog-%[1]d.sock"]
  command     = ["./server", "--port", "{port}"]
  mode        = "proxy"
  directory   = "~/sites/blog-%[1]d"
  environment = { APP_ENV = "prod" }
  pool {
    max       = 8
    idle_stop = "5m"
  }
  backend {
    address = "127.0.0.1:{port}"
    ports   = "%[3]d-%[4]d"
  }
}
`, i, 10000+i, 20000+4*i, 20003+4*i)
	}
	return b.String()
}

// allocated returns what f allocates.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestLimits feeds Parse files past each limit: each fails with the limit
// named where it is exceeded, without overflowing the stack, and with
// little allocation, since the check comes before HCL parses anything.
func TestLimits(t *testing.T) {
	deep := strings.Repeat
	tests := []struct {
		name, src string
		want      string // the problem's "line:col: Summary"
	}{
		// Column 14 is the first element of the command, at depth 2
		// (the site, the list): the 63rd opener is one too many.
		{"100,000 nested (", value(deep("(", 100_000) + "1" + deep(")", 100_000)), "3:76: Nesting too deep"},
		{"100,000 nested [", value(deep("[", 100_000) + deep("]", 100_000)), "3:76: Nesting too deep"},
		{"100,000 nested {", value(deep("{", 100_000) + deep("}", 100_000)), "3:76: Nesting too deep"},
		{"100,000 nested ${", value(deep(`"${`, 100_000) + "1" + deep(`}"`, 100_000)), "3:107: Nesting too deep"},
		{"100,000 unclosed (", value(deep("(", 100_000)), "3:76: Nesting too deep"},
		{"nested heredocs", value(deep("<<EOT\n${", 100_000)), "34:3: Nesting too deep"},
		{"nested %{if}", value(`"` + deep("%{if true}", 100_000)), "3:617: Nesting too deep"},
		{"nested function calls", value(deep("f(", 100_000)), "3:139: Nesting too deep"},
		{"nested for expressions", value(deep("[for x in ", 100_000)), "3:324: Nesting too deep"},
		{"100,000 minus signs", value(deep("-", 100_000) + "1"), "3:76: Nesting too deep"},
		{"100,000 nots", value(deep("!", 100_000) + "true"), "3:76: Nesting too deep"},
		{"10,000 conditionals", value(deep("true ? 1 : ", 10_000) + "1"), "3:701: Nesting too deep"},
		{"100,000 splats", value("[1]" + deep("[*]", 100_000)), "3:200: Nesting too deep"},
		{"100,000 nested blocks", deep("a {\n", 100_000) + deep("}\n", 100_000), "65:3: Nesting too deep"},
		{"2 MB file", value(`"` + deep("x", 2<<20) + `"`), "3:1048538: File too large"},
		{"20,000 sites", compactSites(20_000), "16001:1: Too many sites"},
		{"1 MB of line ends", deep("\n", 1<<20-1), "100002:1: Too many tokens"},
		{"a site of 1 MB of line ends", "site \"a\" {" + deep("\n", 1<<20-20) + "}", "4093:1: Block too large"},
		{"a long number", value(deep("1", 21)), "3:14: Number too large"},
		{"a large exponent", value("1e100000000"), "3:14: Number too large"},
		{"a heredoc of 2000 lines", value("<<EOT\n" + deep(deep("x", 32)+"\n", 2000) + "EOT\n"), "1012:1: Text too long"},
		{"dollar signs", value(`"` + deep("$"+deep("x", 500), 1000) + `"`), "3:91698: Text too long"},
		{"a long heredoc marker", value("<<" + deep("X", 100) + "\n"), "3:16: Heredoc marker too long"},
		// HCL's lexer reads "\xd2" and the byte after it, whatever it
		// is, as a name: here a "#" that would hide the rest of the
		// line from the scanner, and not from HCL.
		{"broken UTF-8", value("\xd2#" + deep("(", 100_000)), "3:14: Invalid character encoding"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			n := allocated(func() { _, err = parse(t, tt.src) })
			if diff := cmp.Diff([]string{"/etc/zsm/site.hcl:" + tt.want}, locations(t, err)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			// The message shows the line, cut to the part around the
			// problem.
			if msg := err.Error(); !strings.Contains(msg, "\n      | ") || len(msg) > 1000 {
				t.Errorf("message without a source line, or too long:\n%s", msg)
			}
			if n > 8<<20 {
				t.Errorf("allocated %d MB to refuse it", n>>20)
			}
		})
	}
}

// TestLimitsAtBound: a file just within each limit decodes; one more
// fails.
func TestLimitsAtBound(t *testing.T) {
	nested := func(n int) string { // n+3 deep at the string
		return value(strings.Repeat("(", n) + `"x"` + strings.Repeat(")", n))
	}
	tests := []struct {
		name      string
		at, above string
		want      string
	}{
		{"depth", nested(MaxDepth - 3), nested(MaxDepth - 2), "3:76: Nesting too deep"},
		{"sites", minimalSites(MaxSites), minimalSites(MaxSites + 1), "16001:1: Too many sites"},
		{"number", value(strings.Repeat("9", MaxNumberLength)), value(strings.Repeat("9", MaxNumberLength+1)), "3:14: Number too large"},
		{"exponent", value("1e9, 1e-9, 1.5E+9"), value("1e10"), "3:14: Number too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := parse(t, tt.at); err != nil {
				t.Errorf("at the limit: %v", firstLine(err))
			}
			_, err := parse(t, tt.above)
			if diff := cmp.Diff([]string{"/etc/zsm/site.hcl:" + tt.want}, locations(t, err)); diff != "" {
				t.Errorf("above the limit (-want +got):\n%s", diff)
			}
		})
	}
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

// TestThousandSites decodes the file the limits are measured against:
// 1000 sites of 15 lines. It must decode, and within the allocation the
// fuzz targets allow any file; its time is logged, not checked.
func TestThousandSites(t *testing.T) {
	src := realisticSites(1000)
	var err error
	start := time.Now()
	n := allocated(func() { _, err = parse(t, src) })
	t.Logf("1000 sites, %d KB: %v, %d MB allocated", len(src)>>10, time.Since(start), n>>20)
	if err != nil {
		t.Fatal(firstLine(err))
	}
	if n > maxAlloc {
		t.Errorf("allocated %d MB, more than %d", n>>20, maxAlloc>>20)
	}
}

// TestLoadReadsLimit: Load reads no more than one byte past MaxFileSize,
// however large the file.
func TestLoadReadsLimit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "huge.hcl")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	// 10 GB of holes: no disk, and no memory unless read.
	if err := f.Truncate(10 << 30); err != nil {
		t.Skipf("no sparse file here: %v", err)
	}
	f.Close()
	n := allocated(func() { _, err = Load(path) })
	var e *Error
	if !errors.As(err, &e) || len(e.Diagnostics) != 1 || e.Diagnostics[0].Summary != "File too large" {
		t.Fatalf("got %v, want File too large", err)
	}
	if n > 8<<20 {
		t.Errorf("allocated %d MB reading it", n>>20)
	}
}

// TestLimitsDocumented keeps the table of docs/config.md in step with the
// limits.
func TestLimitsDocumented(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "..", "docs", "config.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		fmt.Sprintf("| %d MiB (%s bytes) |", MaxFileSize>>20, comma(MaxFileSize)),
		fmt.Sprintf("| %s |", comma(MaxTokens)),
		fmt.Sprintf("| %s |", comma(MaxBlockTokens)),
		fmt.Sprintf("| `site` blocks | %s |", comma(MaxSites)),
		fmt.Sprintf("| %d deep |", MaxDepth),
		fmt.Sprintf("| %d characters, an exponent of one digit (`1e%s`) |", MaxNumberLength, strings.Repeat("9", MaxExponentDigits)),
		fmt.Sprintf("| %d characters | |", maxMarkerLength),
		fmt.Sprintf("| %d MiB of copying", MaxTextCopy>>20),
	} {
		if !strings.Contains(string(doc), want) {
			t.Errorf("docs/config.md lacks %q", want)
		}
	}
}

// comma writes n with commas between thousands.
func comma(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
