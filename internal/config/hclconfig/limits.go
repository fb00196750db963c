package hclconfig

import (
	"bytes"
	"fmt"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
)

// Limits of a configuration file. HCL's parser and evaluator recurse once
// per level of nesting and allocate for every token, so that a file of a
// few bytes nested a hundred thousand deep overflows the stack, and a
// megabyte of line ends takes 500 MB: a broker reloading such a file would
// die instead of keeping its running generation. Parse checks these limits
// in one cheap pass over the bytes before HCL sees them, and reports the
// first one exceeded where it is exceeded. Under them, any file decodes or
// fails within about 80 MB of allocation and well within a second.
//
// The measure is a file of 1000 sites of 15 lines, nearly every key set:
// 350 KB and 90,000 tokens, decoded with 65 MB of allocation in under a
// fifth of a second. A site of the usual few keys is 60 to 70 tokens.
// docs/config.md lists the limits.
const (
	// MaxFileSize bounds a file's bytes: 1 MiB, three times the 1000
	// sites above. Load reads no more than one byte past it.
	MaxFileSize = 1 << 20
	// MaxTokens bounds a file's tokens (names, numbers, symbols, line
	// ends, comments and the pieces of strings), which is what parsing
	// costs: HCL allocates up to 800 bytes for each. It admits the 1000
	// sites above, or 1500 sites of the usual few keys.
	MaxTokens = 100_000
	// MaxBlockTokens bounds the tokens of a top-level block (a site) or
	// argument: 45 times a site with every key set. Parse hands HCL a
	// file a few blocks at a time, which allocates half what the whole
	// file at once would; one block as large as the file would not.
	MaxBlockTokens = 4096
	// MaxDepth bounds nesting: blocks, brackets, braces, parentheses,
	// strings and heredocs, the ${...} and %{...} inside them, and the
	// operators (-, !, ? and a [ after a value) that HCL's parser also
	// recurses on, each counting one. A site's environment map is three
	// deep, a string in it four.
	MaxDepth = 64
	// MaxSites bounds the site blocks of a file: four times the 1000
	// sites above, and about as many of the smallest valid sites (24
	// tokens) as MaxTokens admits.
	MaxSites = 4000
	// MaxNumberLength bounds a number as written: as long as the
	// largest 64-bit integer, short enough that reading it stays cheap.
	MaxNumberLength = 20
	// MaxExponentDigits bounds a number's exponent: 1e9 is the largest
	// pool.max_requests; 1e100000000 would be a hundred million digits
	// once written as a string.
	MaxExponentDigits = 1
	// MaxTextCopy bounds what HCL's parser copies to join the pieces of
	// text of strings and heredocs: it joins a heredoc's lines one by
	// one, copying the text before each, so that the copying grows with
	// the square of the lines. 16 MiB is a heredoc of 1000 lines of 32
	// characters; a 1 MiB heredoc of short lines would be gigabytes.
	MaxTextCopy = 16 << 20
	// maxMarkerLength bounds a heredoc's marker (EOT in <<EOT), which
	// the check reads the way HCL does.
	maxMarkerLength = 64
)

// checkLimits reports the first limit src exceeds, or where the chunks of
// whole top-level items that parseChunks takes end.
func checkLimits(filename string, src []byte) ([]int, hcl.Diagnostics) {
	if len(src) > MaxFileSize {
		return nil, hcl.Diagnostics{limitError(filename, src, MaxFileSize, MaxFileSize+1, "File too large",
			fmt.Sprintf("A configuration file holds at most %d bytes (1 MiB); this one goes on past here.", MaxFileSize))}
	}
	if !utf8.Valid(src) {
		i := invalidUTF8(src)
		return nil, hcl.Diagnostics{limitError(filename, src, i, i+1, "Invalid character encoding",
			"All input files must be UTF-8 encoded. Ensure that UTF-8 encoding is selected in your editor.")}
	}
	s := newScanner(filename, src)
	s.run()
	if s.diag != nil {
		return nil, hcl.Diagnostics{s.diag}
	}
	return append(s.chunks, len(src)), nil
}

// invalidUTF8 returns the offset of the first byte of src that is not
// UTF-8. HCL would say the same of it, but its lexer reads some broken
// characters together with the ASCII after them ("\xd2(" is one name to
// it), which the scanner could not follow.
func invalidUTF8(src []byte) int {
	for i := 0; i < len(src); {
		r, n := utf8.DecodeRune(src[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return len(src)
}

// limitError is a problem with the bytes from start to end of src.
func limitError(filename string, src []byte, start, end int, summary, detail string) *hcl.Diagnostic {
	// HCL skips a byte order mark: its first line starts after it.
	origin := hcl.InitialPos
	if bytes.HasPrefix(src, []byte(bom)) {
		origin.Byte = len(bom)
	}
	from := posAt(src, origin, start)
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  summary,
		Detail:   detail,
		Subject:  &hcl.Range{Filename: filename, Start: from, End: posAt(src, from, end)},
	}
}

// bom is UTF-8's byte order mark.
const bom = "\xef\xbb\xbf"

// posAt returns the position of byte offset off of src, counting from p,
// the position of an earlier offset. Lines end at "\n", as for HCL;
// columns count characters.
func posAt(src []byte, p hcl.Pos, off int) hcl.Pos {
	off = min(off, len(src))
	for p.Byte < off {
		if i := bytes.IndexByte(src[p.Byte:off], '\n'); i >= 0 {
			p = hcl.Pos{Line: p.Line + 1, Column: 1, Byte: p.Byte + i + 1}
			continue
		}
		p.Column += utf8.RuneCount(src[p.Byte:off])
		p.Byte = off
	}
	return p
}
