package hclconfig

import (
	"fmt"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// bodyContent is body.Content(schema), with the same problems in the same
// words, but for the cost of suggesting a name. HCL measures the edit
// distance from every name it does not know to every key, and suggests a
// key less than 3 edits away: for a megabyte of names, a fifth of a
// second. bodyContent measures only names that could be that close, within 2
// characters of a key's length.
func bodyContent(body hcl.Body, schema *hcl.BodySchema) (*hcl.BodyContent, hcl.Diagnostics) {
	b, ok := body.(*hclsyntax.Body)
	if !ok {
		return body.Content(schema)
	}
	c, _, diags := b.PartialContent(schema)
	attrs, blocks := map[string]bool{}, map[string]bool{}
	for _, a := range schema.Attributes {
		attrs[a.Name] = true
	}
	for _, bs := range schema.Blocks {
		blocks[bs.Type] = true
	}
	for name, a := range b.Attributes {
		if attrs[name] {
			continue
		}
		var keys []string
		for _, as := range schema.Attributes {
			if c.Attributes[as.Name] == nil {
				keys = append(keys, as.Name)
			}
		}
		hint := didYouMean(name, keys)
		if hint == "" && blocks[name] {
			hint = fmt.Sprintf(" Did you mean to define a block of type %q?", name)
		}
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Unsupported argument",
			Detail:   fmt.Sprintf("An argument named %q is not expected here.%s", name, hint),
			Subject:  a.NameRange.Ptr(),
		})
	}
	for _, blk := range b.Blocks {
		if blocks[blk.Type] {
			continue
		}
		var types []string
		for _, bs := range schema.Blocks {
			types = append(types, bs.Type)
		}
		hint := didYouMean(blk.Type, types)
		if hint == "" && attrs[blk.Type] {
			hint = fmt.Sprintf(" Did you mean to define argument %q? If so, use the equals sign to assign it a value.", blk.Type)
		}
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Unsupported block type",
			Detail:   fmt.Sprintf("Blocks of type %q are not expected here.%s", blk.Type, hint),
			Subject:  blk.TypeRange.Ptr(),
		})
	}
	return c, diags
}

// didYouMean returns " Did you mean "KEY"?" for the first key less than 3
// edits from name, as HCL does, or "".
func didYouMean(name string, keys []string) string {
	n := utf8.RuneCountInString(name)
	for _, k := range keys {
		if d := n - utf8.RuneCountInString(k); -3 < d && d < 3 && distance([]rune(name), []rune(k)) < 3 {
			return fmt.Sprintf(" Did you mean %q?", k)
		}
	}
	return ""
}

// distance returns the edit distance between a and b: the insertions,
// deletions and substitutions that turn one into the other.
func distance(a, b []rune) int {
	row := make([]int, len(b)+1)
	for j := range row {
		row[j] = j
	}
	for i := range a {
		diag := row[0]
		row[0] = i + 1
		for j := range b {
			cost := 1
			if a[i] == b[j] {
				cost = 0
			}
			diag, row[j+1] = row[j+1], min(row[j+1]+1, row[j]+1, diag+cost)
		}
	}
	return row[len(b)]
}
