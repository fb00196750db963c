package hclconfig

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/zsm-dev/zsm/internal/config"
)

// The resources any file may take to decode or fail: the bound the limits
// are chosen to keep, with room to spare.
const (
	maxAlloc = 100 << 20
	maxTime  = time.Second
)

// costSeeds are files that cost the most the limits allow, or cost
// without bound without them: deep nesting of each kind, many sites, long
// lines, heredocs and templates, and files at the token limit made of
// each of the cheapest repeated pieces.
func costSeeds() []string {
	deep := strings.Repeat
	seeds := []string{
		value(deep("(", 100_000)), value(deep("[", 100_000)), value(deep("{", 100_000)),
		value(deep(`"${`, 100_000)), value(deep("<<EOT\n${", 10_000)), value(`"` + deep("%{if true}", 100_000)),
		value(deep("f(", 100_000)), value(deep("[for x in ", 10_000)), value(deep("-", 100_000) + "1"),
		value(deep("true ? 1 : ", 10_000) + "1"), value("[1]" + deep("[*]", 100_000)), deep("a {\n", 100_000),
		value(deep("(", MaxDepth-3) + `"x"` + deep(")", MaxDepth-3)),
		minimalSites(MaxSites), minimalSites(MaxSites + 1), realisticSites(1000),
		deep("site \"a\" {}\n", MaxSites),
		value(`"` + deep("x", MaxFileSize-100) + `"`), value("<<EOT\n" + deep("x", MaxFileSize-100) + "\nEOT\n"),
		"site \"a\" {\n" + deep("x", MaxFileSize-100) + " = 1\n}\n",
		value("<<EOT\n" + deep(deep("x", 31)+"\n", 1000) + "EOT\n"),
		value(`"` + deep("$", 5000) + `"`), value("1e100000000"), value("-1e-9"),
		deep("\n", MaxTokens), deep("#\n", MaxTokens), deep("x=1\n", MaxTokens/4), deep("a{}\n", MaxTokens/4),
	}
	for _, piece := range []string{`"",`, `"x",`, "-1e-9,", "1e9,", "0.000000000000000001,", "{},", "[],",
		"(1),", "a,", "f(),", "1+", "\x01"} {
		seeds = append(seeds, sitesOf(piece))
	}
	return seeds
}

// sitesOf is a file of sites at the block limit, their commands lists of
// piece, as many as the token limit allows.
func sitesOf(piece string) string {
	n := (MaxBlockTokens - 40) / max(newScannerTokens(piece), 1)
	var b strings.Builder
	for i := 0; ; i++ {
		site := fmt.Sprintf("site \"s%d\" {\n  listen  = [\"127.0.%d.%d:1\"]\n  command = [%s]\n}\n",
			i, i>>8&255, i&255, strings.Repeat(piece, n))
		if newScannerTokens(b.String()+site) > MaxTokens {
			return b.String()
		}
		b.WriteString(site)
	}
}

func newScannerTokens(src string) int {
	s := newScanner("x", []byte(src))
	s.run()
	return s.tokens
}

// FuzzParseCost feeds the decoder arbitrary files: each must decode or fail
// within maxTime and maxAlloc. Allocation is exact; time is not on a
// shared machine, so a file is timed twice before it is found slow: what
// is slow by design is slow both times.
func FuzzParseCost(f *testing.F) {
	for _, s := range costSeeds() {
		f.Add([]byte(s))
	}
	limit := maxTime
	if raceEnabled {
		limit *= 10
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		took, n := parseCost(src)
		if n > maxAlloc {
			t.Errorf("%d bytes allocated %d MB, more than %d", len(src), n>>20, maxAlloc>>20)
		}
		if took > limit {
			if again, _ := parseCost(src); again > limit {
				t.Errorf("%d bytes took %v, then %v, more than %v", len(src), took, again, limit)
			}
		}
	})
}

// parseCost returns the time and allocation Parse takes on src.
func parseCost(src []byte) (time.Duration, uint64) {
	var took time.Duration
	n := allocated(func() {
		start := time.Now()
		if _, err := Parse("fuzz.hcl", src, Options{Home: "/home/u"}); err != nil {
			_ = err.Error()
		}
		took = time.Since(start)
	})
	return took, n
}

// FuzzScan checks the scanner against hclsyntax: a file that passes the
// limits nests, as HCL's lexer reads it, no deeper than the scanner saw,
// holds no more tokens than it counted, and parses in chunks to what one
// parse of the whole makes of it.
func FuzzScan(f *testing.F) {
	for _, s := range []string{
		"a = <<EOT\n${x}\n  EOT\nb = 1\n", "a = <<-EOT\nx$\n$${\nEOT\n", "a = \"${\"${b}\"}\" # c\n",
		"a = \"\\\"${ {} }\"\n", "a = <<EOT\nx\rEOT\n[[[\n", "a = \"%{ if x }y%{ endif }\"\n",
		"/* x */ site \"a\" {\n}\n/*", "a = [\n# ]\n1]\nb = 2\n", "a = \"${ ~}\"\n", "x = 1e5.e\n",
		value(`"a", "b"`) + "a = 1\na = 2\n", "a = {\n\"b\" = <<X\n}\nX\n}\n", "\xef\xbb\xbfa = 1\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		if !utf8.Valid(src) {
			return // checkLimits refuses it before the scanner
		}
		s := newScanner("f.hcl", src)
		s.run()
		if s.diag != nil {
			return
		}
		toks, _ := hclsyntax.LexConfig(src, "f.hcl", hcl.InitialPos)
		if d := lexDepth(toks); d > s.maxStack {
			t.Errorf("HCL nests %d deep, the scanner saw %d", d, s.maxStack)
		}
		if n := len(toks) - 1; n > s.tokens {
			t.Errorf("HCL reads %d tokens, the scanner counted %d", n, s.tokens)
		}
		sameParse(t, src, append(s.chunks, len(src)))
	})
}

// lexDepth returns how deep toks nest.
func lexDepth(toks hclsyntax.Tokens) int {
	var stack []hclsyntax.TokenType
	deepest := 0
	popTo := func(open ...hclsyntax.TokenType) {
		for i := len(stack) - 1; i >= 0; i-- {
			for _, o := range open {
				if stack[i] == o {
					stack = stack[:i]
					return
				}
			}
		}
	}
	closes := map[hclsyntax.TokenType]hclsyntax.TokenType{
		hclsyntax.TokenCParen: hclsyntax.TokenOParen, hclsyntax.TokenCBrack: hclsyntax.TokenOBrack,
		hclsyntax.TokenCBrace: hclsyntax.TokenOBrace,
	}
	for _, tok := range toks {
		switch tok.Type {
		case hclsyntax.TokenOParen, hclsyntax.TokenOBrack, hclsyntax.TokenOBrace, hclsyntax.TokenOQuote,
			hclsyntax.TokenOHeredoc, hclsyntax.TokenTemplateInterp, hclsyntax.TokenTemplateControl:
			stack = append(stack, tok.Type)
		case hclsyntax.TokenCParen, hclsyntax.TokenCBrack, hclsyntax.TokenCBrace:
			if len(stack) > 0 && stack[len(stack)-1] == closes[tok.Type] {
				stack = stack[:len(stack)-1]
			}
		case hclsyntax.TokenCQuote:
			popTo(hclsyntax.TokenOQuote)
		case hclsyntax.TokenCHeredoc:
			popTo(hclsyntax.TokenOHeredoc)
		case hclsyntax.TokenTemplateSeqEnd:
			popTo(hclsyntax.TokenTemplateInterp, hclsyntax.TokenTemplateControl)
		}
		deepest = max(deepest, len(stack))
	}
	return deepest
}

// sameParse checks that parsing src in chunks ending at ends finds
// problems when one parse of the whole does, and decodes to the same
// sites and problems when neither does.
func sameParse(t *testing.T, src []byte, ends []int) {
	t.Helper()
	whole, wholeDiags := hclsyntax.ParseConfig(src, "f.hcl", hcl.InitialPos)
	body, diags := parseChunks("f.hcl", src, ends)
	if diags.HasErrors() != wholeDiags.HasErrors() {
		t.Fatalf("in chunks %v: %v; whole: %v", ends, diags, wholeDiags)
	}
	if diags.HasErrors() {
		return
	}
	decode := func(b hcl.Body) (*config.File, []string) {
		d := &decoder{src: src, dir: "/etc/zsm", home: "/home/u"}
		f := d.file(b)
		sort.SliceStable(d.diags, func(i, j int) bool { return before(d.diags[i], d.diags[j]) })
		heads := make([]string, len(d.diags))
		for i, diag := range d.diags {
			heads[i] = diag.Error()
		}
		return f, heads
	}
	gotFile, gotDiags := decode(body)
	wantFile, wantDiags := decode(whole.Body)
	if diff := cmp.Diff(wantFile, gotFile); diff != "" {
		t.Errorf("in chunks %v (-whole +chunks):\n%s", ends, diff)
	}
	if diff := cmp.Diff(wantDiags, gotDiags); diff != "" {
		t.Errorf("in chunks %v, problems (-whole +chunks):\n%s", ends, diff)
	}
}

// TestChunks: a file parsed in chunks gives what one parse gives, an
// argument set in two chunks included.
func TestChunks(t *testing.T) {
	src := []byte(realisticSites(10) + "a = 1\n" + minimalSites(10) + "a = 2\n")
	s := newScanner("f.hcl", src)
	s.run()
	if len(s.chunks) < 5 {
		t.Fatalf("%d chunks, want several", len(s.chunks))
	}
	sameParse(t, src, append(s.chunks, len(src)))
	_, diags := parseChunks("f.hcl", src, append(s.chunks, len(src)))
	var e *Error
	_, err := Parse("f.hcl", src, Options{})
	if !errors.As(err, &e) || !strings.Contains(err.Error(), "Attribute redefined") {
		t.Errorf("a = 2 after a = 1 in another chunk: %v (%v)", err, diags)
	}
}
