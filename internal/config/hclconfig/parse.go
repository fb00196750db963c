package hclconfig

import (
	"bytes"
	"fmt"
	"sort"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// chunkTokens is how many tokens parseChunks hands hclsyntax at once, at least:
// its lexer grows its slice of tokens by a quarter once past 256, so that
// lexing a whole file allocates five times the tokens, and lexing it a
// hundred or so at a time, twice.
const chunkTokens = 128

// parseChunks parses src, which checkLimits found within the limits, one chunk at
// a time: ends holds where each chunk ends, after the line end of a
// top-level item (scanner.chunks). It joins the chunks' bodies into the
// body one parse of the whole file would give, reporting an argument set
// twice as that parse does.
func parseChunks(filename string, src []byte, ends []int) (*hclsyntax.Body, hcl.Diagnostics) {
	body := &hclsyntax.Body{Attributes: hclsyntax.Attributes{}}
	var diags hcl.Diagnostics
	pos, start := hcl.InitialPos, 0
	for i, end := range ends {
		f, ds := hclsyntax.ParseConfig(src[start:end], filename, pos)
		diags = append(diags, ds...)
		b := f.Body.(*hclsyntax.Body)
		if i == 0 {
			body.SrcRange = b.SrcRange
		}
		body.SrcRange.End, body.EndRange = b.SrcRange.End, b.EndRange
		body.Blocks = append(body.Blocks, b.Blocks...)
		diags = append(diags, join(body.Attributes, b.Attributes)...)
		pos = hcl.Pos{Line: pos.Line + bytes.Count(src[start:end], []byte("\n")), Column: 1, Byte: end}
		start = end
	}
	return body, diags
}

// join adds the arguments of a chunk to those of the chunks before it.
func join(all, chunk hclsyntax.Attributes) hcl.Diagnostics {
	attrs := make([]*hclsyntax.Attribute, 0, len(chunk))
	for _, a := range chunk {
		attrs = append(attrs, a)
	}
	sort.Slice(attrs, func(i, j int) bool { return attrs[i].NameRange.Start.Byte < attrs[j].NameRange.Start.Byte })
	var diags hcl.Diagnostics
	for _, a := range attrs {
		if first, dup := all[a.Name]; dup {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Attribute redefined",
				Detail: fmt.Sprintf("The argument %q was already set at %s. Each argument may be set only once.",
					a.Name, first.NameRange.String()),
				Subject: a.NameRange.Ptr(),
			})
			continue
		}
		all[a.Name] = a
	}
	return diags
}

// CheckSyntax reports whether src, the content of the file filename, is
// within the limits and is HCL syntax, as Parse checks them first; nil or
// an *Error with the problems. It checks no keys or values.
func CheckSyntax(filename string, src []byte) error {
	chunks, diags := checkLimits(filename, src)
	if !diags.HasErrors() {
		_, diags = parseChunks(filename, src, chunks)
	}
	if diags.HasErrors() {
		return &Error{Diagnostics: diags, files: map[string]*hcl.File{filename: {Bytes: src}}}
	}
	return nil
}
