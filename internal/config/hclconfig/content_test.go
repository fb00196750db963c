package hclconfig

import (
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// TestBodyContent: bodyContent says what hcl's Body.Content says.
func TestBodyContent(t *testing.T) {
	for _, src := range []string{
		"listen = 1\ncomand = 2\nlisten2 = 3\npool = 4\nppol {}\nmode {}\nstatus {}\n",
		"commnd = 1\ncommand = 2\nlistn = 3\nmodee = 4\nx = 5\n" + strings.Repeat("y", 100) + " = 6\né = 7\nmöde = 8\n",
		"timeout {}\nbakend {}\nlimits {}\nlimits {}\neager {}\n",
		"",
	} {
		f, diags := hclsyntax.ParseConfig([]byte(src), "x.hcl", hcl.InitialPos)
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		_, want := f.Body.Content(siteSchema)
		_, got := bodyContent(f.Body, siteSchema)
		if diff := cmp.Diff(messages(want), messages(got)); diff != "" {
			t.Errorf("%q (-hcl +bodyContent):\n%s", src, diff)
		}
	}
}

func messages(diags hcl.Diagnostics) []string {
	var ms []string
	for _, d := range diags {
		ms = append(ms, d.Error())
	}
	sort.Strings(ms)
	return ms
}

func TestDistance(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"a", "", 1}, {"", "ab", 2}, {"kitten", "sitting", 3}, {"comand", "command", 1},
		{"listen", "listne", 2}, {"möde", "mode", 1},
	} {
		if got := distance([]rune(tt.a), []rune(tt.b)); got != tt.want {
			t.Errorf("distance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}
