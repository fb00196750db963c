package hclconfig

import (
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// literal reports what in e is not a literal value. A configuration
// holds values: strings, numbers (a minus sign before one included), true,
// false, and lists and maps of them, with names or strings as keys. HCL's
// expressions and templates would let a few bytes ask for a great deal of
// work ("1e9" * "1e9" ... in "${...}" is as many digits as the exponents
// add up to, and for expressions multiply lists), so the decoder refuses
// them before evaluating anything. Variables and function calls are left
// to HCL, which refuses them without evaluating their arguments. e nests
// no deeper than MaxDepth.
func literal(e hcl.Expression) hcl.Diagnostics {
	var diags hcl.Diagnostics
	switch e := e.(type) {
	case *hclsyntax.LiteralValueExpr, *hclsyntax.ScopeTraversalExpr, *hclsyntax.FunctionCallExpr:
	case *hclsyntax.TemplateExpr:
		for _, part := range e.Parts {
			// Text is a string literal; ${1e9} is a number literal,
			// which HCL would write out through a 512-bit float.
			if lit, ok := part.(*hclsyntax.LiteralValueExpr); !ok || lit.Val.Type() != cty.String {
				return refuse(part, "Templates not allowed", noTemplates)
			}
		}
	case *hclsyntax.TemplateWrapExpr:
		diags = refuse(e, "Templates not allowed", noTemplates)
	case *hclsyntax.ParenthesesExpr:
		diags = literal(e.Expression)
	case *hclsyntax.TupleConsExpr:
		for _, el := range e.Exprs {
			diags = append(diags, literal(el)...)
		}
	case *hclsyntax.ObjectConsExpr:
		for _, item := range e.Items {
			diags = append(diags, literal(item.KeyExpr)...)
			diags = append(diags, literal(item.ValueExpr)...)
		}
	case *hclsyntax.ObjectConsKeyExpr:
		diags = key(e)
	case *hclsyntax.UnaryOpExpr:
		if lit, ok := e.Val.(*hclsyntax.LiteralValueExpr); !ok || e.Op != hclsyntax.OpNegate || lit.Val.Type() != cty.Number {
			diags = refuse(e, "Operators not allowed", "")
		}
	default:
		diags = refuse(e, computed(e)+" not allowed", "")
	}
	return diags
}

const noTemplates = "${ and %{ are not allowed here; write $${ and %%{ for the text ${ and %{."

// key reports what is wrong with a map's key: a name or a string.
func key(e *hclsyntax.ObjectConsKeyExpr) hcl.Diagnostics {
	switch w := e.Wrapped.(type) {
	case *hclsyntax.ScopeTraversalExpr:
		if !e.ForceNonLiteral {
			return nil
		}
	case *hclsyntax.TemplateExpr:
		return literal(w)
	}
	return refuse(e, "Invalid key", "A key is a name or a string, as in { APP_ENV = \"prod\" }.")
}

// computed names what e computes, for a message.
func computed(e hcl.Expression) string {
	switch e.(type) {
	case *hclsyntax.BinaryOpExpr:
		return "Operators"
	case *hclsyntax.ConditionalExpr:
		return "Conditional expressions"
	case *hclsyntax.ForExpr, *hclsyntax.TemplateJoinExpr:
		return "For expressions"
	case *hclsyntax.SplatExpr:
		return "Splat expressions"
	}
	return "Indexes and attributes"
}

// refuse reports e as not a value: summary, then detail or the rule.
func refuse(e hcl.Expression, summary, detail string) hcl.Diagnostics {
	if detail == "" {
		detail = "A value here is a string, a number, true or false, or a list or map of them."
	}
	return hcl.Diagnostics{{
		Severity: hcl.DiagError,
		Summary:  summary,
		Detail:   detail,
		Subject:  e.Range().Ptr(),
	}}
}

// numberText returns the number e as text, the way cty writes a number as
// a string, when e is a number literal (after a minus sign, in
// parentheses). It reads the literal in src rather than the value cty
// parsed: writing a 512-bit big.Float out costs cty 3 to 9 KB and 20 to 60
// µs a number, and a file may hold tens of thousands.
func numberText(src []byte, e hcl.Expression) (string, bool) {
	switch e := e.(type) {
	case *hclsyntax.ParenthesesExpr:
		return numberText(src, e.Expression)
	case *hclsyntax.UnaryOpExpr:
		if e.Op == hclsyntax.OpNegate {
			s, ok := numberText(src, e.Val)
			return "-" + s, ok
		}
	case *hclsyntax.LiteralValueExpr:
		r := e.SrcRange
		if e.Val.Type() == cty.Number && 0 <= r.Start.Byte && r.Start.Byte <= r.End.Byte && r.End.Byte <= len(src) {
			return decimal(string(src[r.Start.Byte:r.End.Byte]))
		}
	}
	return "", false
}

// decimal writes the number literal lit as cty writes the number it
// stands for (big.Float's Text('f', -1) at 512 bits): its digits without
// leading or trailing zeros, and no exponent. For a literal of fewer than
// a hundred digits these are its own digits: no shorter number is within
// 512 bits of it. It reports false for a literal it cannot read.
func decimal(lit string) (string, bool) {
	mant, exp, hasExp := strings.Cut(strings.ToLower(lit), "e")
	whole, frac, _ := strings.Cut(mant, ".")
	shift := 0
	if hasExp {
		n, err := strconv.Atoi(exp)
		if err != nil || n < -1000 || n > 1000 {
			return "", false
		}
		shift = n
	}
	digits := whole + frac
	if digits == "" || strings.Trim(digits, "0123456789") != "" || len(digits) > 99 {
		return "", false
	}
	point := len(whole) + shift // where the point goes in digits
	trimmed := strings.TrimLeft(digits, "0")
	point -= len(digits) - len(trimmed)
	digits = strings.TrimRight(trimmed, "0")
	switch {
	case digits == "":
		return "0", true
	case point >= len(digits):
		return digits + strings.Repeat("0", point-len(digits)), true
	case point <= 0:
		return "0." + strings.Repeat("0", -point) + digits, true
	}
	return digits[:point] + "." + digits[point:], true
}
