package hclconfig

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/zclconf/go-cty/cty"
)

// TestLiteral: a value is a literal; what computes is refused where it is
// written, before anything is evaluated.
func TestLiteral(t *testing.T) {
	tests := []struct {
		value string
		want  string // "col: Summary", or "" for none
	}{
		{`"x", -1, (2), 1.5e3, true`, ""},
		{`"$${x} %%{y}"`, ""},
		{`"x${"y"}"`, "18: Templates not allowed"},
		{`"${1}"`, "14: Templates not allowed"},
		{`"%{if true}x%{endif}"`, "15: Templates not allowed"},
		{`<<EOT
${1e9}
EOT
`, "3: Templates not allowed"},
		{`1 + 1`, "14: Operators not allowed"},
		{`"1e100000000" + 0`, "14: Operators not allowed"},
		{`-"1e100000000"`, "14: Operators not allowed"},
		{`- -1`, "14: Operators not allowed"},
		{`!true`, "14: Operators not allowed"},
		{`true ? "a" : "b"`, "14: Conditional expressions not allowed"},
		{`[for x in [1, 2]: [for y in [1, 2]: y]]`, "14: For expressions not allowed"},
		{`"%{for x in [1]}x%{endfor}"`, "15: Templates not allowed"},
		{`["a"][0]`, "14: Indexes and attributes not allowed"},
		{`["a"][*]`, "14: Splat expressions not allowed"},
		{`{a = 1}.a`, "14: Indexes and attributes not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			_, err := parse(t, value(tt.value))
			var got []string
			if err != nil {
				for _, h := range locations(t, err) {
					if !strings.Contains(h, "Invalid command") && !strings.Contains(h, "Unsuitable value") {
						got = append(got, h)
					}
				}
			}
			var want []string
			if tt.want != "" {
				line := "3"
				if strings.HasPrefix(tt.value, "<<") {
					line = "4"
				}
				want = []string{"/etc/zsm/site.hcl:" + line + ":" + tt.want}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-want +got):\n%s\n%v", diff, err)
			}
		})
	}
}

// TestKeys: a map's keys are names or strings.
func TestKeys(t *testing.T) {
	src := "site \"a\" {\n  listen  = [\"127.0.0.1:1\"]\n  command = [\"x\"]\n  environment = { A = \"1\", \"B\" = 2, 3 = \"x\", (C) = \"y\" }\n}\n"
	_, err := parse(t, src)
	want := []string{"/etc/zsm/site.hcl:4:37: Invalid key", "/etc/zsm/site.hcl:4:46: Invalid key"}
	if diff := cmp.Diff(want, locations(t, err)); diff != "" {
		t.Errorf("(-want +got):\n%s\n%v", diff, err)
	}
}

// TestNumberText: a number where a string is wanted is written as cty
// writes it, without going through cty.
func TestNumberText(t *testing.T) {
	f, err := parse(t, value(`"x", 8080, -2, 1.50, 1e3, 0.001, 007, -0, 1E-9`))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"x", "8080", "-2", "1.5", "1000", "0.001", "7", "-0", "0.000000001"}
	if diff := cmp.Diff(want, f.Sites[0].Command); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestDecimal compares decimal with cty on literals as the limits allow
// them, and longer.
func TestDecimal(t *testing.T) {
	lits := []string{"0", "00", "0.0", "1", "10", "100.00", "0.5", "1.5e3", "1.5E+3", "12e-3", "0.000e5",
		"123456789012345678901234567890", "9.999999999999999999e-9", "1e9", "1e-9", "5e0"}
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		lit := fmt.Sprint(r.IntN(1000))
		if r.IntN(2) == 0 {
			lit += "." + strings.Repeat("0", r.IntN(3)) + fmt.Sprint(r.Uint64())
		}
		if r.IntN(2) == 0 {
			lit += fmt.Sprintf("e%s%d", []string{"", "+", "-"}[r.IntN(3)], r.IntN(40))
		}
		lits = append(lits, lit)
	}
	for _, lit := range lits {
		v, err := cty.ParseNumberVal(lit)
		if err != nil {
			t.Fatalf("cty cannot read %q: %v", lit, err)
		}
		want := v.AsBigFloat().Text('f', -1)
		if got, ok := decimal(lit); !ok || got != want {
			t.Errorf("decimal(%q) = %q, %v; cty writes %q", lit, got, ok, want)
		}
	}
	for _, bad := range []string{"", ".", "1..2", "1e", "1e5e5", "x"} {
		if got, ok := decimal(bad); ok {
			t.Errorf("decimal(%q) = %q, want false", bad, got)
		}
	}
}
