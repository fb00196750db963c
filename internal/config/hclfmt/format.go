package hclfmt

import (
	"bytes"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zsm-dev/zsm/internal/config/hclconfig"
)

// Format returns src, the content of the file filename, in its canonical
// layout: hclwrite's (two spaces of indentation per level, the = of
// neighbouring arguments and their trailing comments aligned, one space
// between the items of a list) and, as gofmt does, lines ending in "\n",
// no blank line at the start or the end of a block, a list or the file,
// at most one blank line in a row, and a line end at the end of the
// file. Only space changes: comments and values are kept as written, the
// text of heredocs and strings byte for byte. Format(Format(src)) ==
// Format(src).
//
// A file that does not parse, or is over one of the limits, is not
// formatted: the *hclconfig.Error lists its problems, as Parse's does
// (hclconfig.CheckSyntax). Format checks syntax only, not keys or values.
func Format(filename string, src []byte) ([]byte, error) {
	if err := hclconfig.CheckSyntax(filename, src); err != nil {
		return nil, err
	}
	return hclwrite.Format(tidyLines(src)), nil
}

// tidyLines makes src's line ends "\n", drops the blank lines after an
// opening and before a closing bracket (of a block, a list, a map or
// parentheses) and at the start and end of the file, and the second and
// further of a run of blank lines; it ends the file with a line end. It
// works on src's tokens, so that the text of strings, heredocs and
// comments is left as it is (but for the \r ending a line comment). src
// parses.
func tidyLines(src []byte) []byte {
	tokens, _ := hclsyntax.LexConfig(src, "", hcl.InitialPos)
	out := make([]byte, 0, len(src)+1)
	ends := 2 // line ends in a row: 2, at the start, allows no blank line
	prev := 0 // where the previous token ended
	for _, t := range tokens {
		between := src[prev:t.Range.Start.Byte] // spaces
		prev = t.Range.End.Byte
		switch t.Type {
		case hclsyntax.TokenNewline:
			if ends < 2 {
				out = append(out, '\n')
				ends++
			}
			continue
		case hclsyntax.TokenEOF:
			between = nil // no spaces at the end
			fallthrough
		case hclsyntax.TokenCBrace, hclsyntax.TokenCBrack, hclsyntax.TokenCParen:
			if bytes.HasSuffix(out, []byte("\n\n")) {
				out = out[:len(out)-1] // no blank line before it
			}
		}
		out = append(out, between...)
		out = append(out, t.Bytes...)
		switch {
		case t.Type == hclsyntax.TokenOBrace || t.Type == hclsyntax.TokenOBrack || t.Type == hclsyntax.TokenOParen:
			ends = 1 // the line end after it ends a line; a further one would be blank
		case t.Type == hclsyntax.TokenComment && bytes.HasSuffix(t.Bytes, []byte("\n")):
			out = append(bytes.TrimRight(out, "\r\n"), '\n') // its line end, and any \r before it
			ends = 1
		default:
			ends = 0
		}
	}
	if len(out) > 0 && !bytes.HasSuffix(out, []byte("\n")) {
		out = append(out, '\n')
	}
	return out
}
