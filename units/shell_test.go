package units

import (
	"errors"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestShQuote(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "''"},
		{"serve", "serve"},
		{"/usr/local/bin/zsm", "/usr/local/bin/zsm"},
		{"--site", "--site"},
		{"a_b.c-d,e:f+g@h%i", "a_b.c-d,e:f+g@h%i"},
		{"a b", "'a b'"},
		{"it's", `'it'\''s'`},
		{"'", `''\'''`},
		{"$HOME", "'$HOME'"},
		{"~ann", "'~ann'"},
		{"a=b", "'a=b'"},   // a first word would be an assignment
		{"a#b", "'a#b'"},   // sysvinit's splitter ends the line at #
		{"a\tb", "'a\tb'"}, // blanks split words
		{`a\b`, `'a\b'`},
		{"*?[", "'*?['"},
		{"café", "'café'"},
	} {
		if got := shQuote(tc.in); got != tc.want {
			t.Errorf("shQuote(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

// shUnquote reads one word the way sh does, for words made of bare
// characters, '...' strings and \-escapes (the oracle of FuzzShQuote). It
// fails on anything an unquoted sh word would expand or split.
func shUnquote(w string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(w); i++ {
		switch c := w[i]; {
		case c == '\'':
			j := strings.IndexByte(w[i+1:], '\'')
			if j < 0 {
				return "", errors.New("unterminated quote")
			}
			b.WriteString(w[i+1 : i+1+j])
			i += 1 + j
		case c == '\\':
			if i+1 == len(w) {
				return "", errors.New("backslash at the end")
			}
			i++
			b.WriteByte(w[i])
		case shSafe(c):
			b.WriteByte(c)
		default:
			return "", errors.New("unquoted " + string(c))
		}
	}
	return b.String(), nil
}

func FuzzShQuote(f *testing.F) {
	for _, s := range []string{"", "a", "a b", "'", "''", `\`, "$x", "`x`", "~", "a=b", "#", "\n", "\x00", "\xff", "-x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q := shQuote(s)
		got, err := shUnquote(q)
		if err != nil || got != s {
			t.Errorf("shQuote(%q) = %s reads back as %q, %v", s, q, got, err)
		}
	})
}

// shells returns the POSIX shells installed here, each once.
func shells(t *testing.T) []string {
	t.Helper()
	var out []string
	seen := map[string]bool{}
	for _, name := range []string{"sh", "dash", "bash", "busybox", "mksh", "ksh", "zsh", "yash"} {
		p, err := exec.LookPath(name)
		if err != nil {
			continue
		}
		if r, err := filepath.EvalSymlinks(p); err == nil {
			p = r
		}
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		t.Fatal("no sh on $PATH")
	}
	return out
}

// runShell runs script with a POSIX shell and splits its output at NULs.
func runShell(t *testing.T, shell, script string) []string {
	t.Helper()
	args := []string{"-c", script}
	switch filepath.Base(shell) {
	case "busybox":
		args = append([]string{"sh"}, args...)
	case "zsh":
		args = append([]string{"--emulate", "sh"}, args...)
	}
	out, err := exec.Command(shell, args...).Output()
	if err != nil {
		t.Fatalf("%s: %v", shell, err)
	}
	return strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
}

// TestShQuoteRoundTrip has real shells read quoted words back: as
// arguments, as the value of an assignment, and quoted twice, as a command
// line handed to sh -c (what su -c, an inittab line and cron do).
func TestShQuoteRoundTrip(t *testing.T) {
	words := []string{"", "plain", "a b", "it's", "''", `\`, `\'`, "$HOME", "${x}", "`id`", "$(id)", "~", "~root", "a:~b",
		"a=b", "#c", "a#b", "*", "?", "[a]", "!", "^", "&", ";", "|", "<>", "(x)", "{x}", "\t", "\n", " lead", "trail ", "-n", "-e", "%", "café", "\xff\xfe"}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 300 {
		b := make([]byte, rng.IntN(12))
		for i := range b {
			b[i] = byte(1 + rng.IntN(255)) // any byte but NUL, which no argument holds
		}
		words = append(words, string(b))
	}
	const printWords = `printf '%s\000' `
	var assign strings.Builder
	for i, w := range words {
		if i > 0 {
			assign.WriteString("; ")
		}
		assign.WriteString("v=" + shQuote(w) + "; " + printWords + `"$v"`)
	}
	for _, sh := range shells(t) {
		t.Run(filepath.Base(sh), func(t *testing.T) {
			for _, tc := range []struct{ name, script string }{
				{"arguments", printWords + shJoin(words)},
				{"assignments", assign.String()},
				{"sh -c", "exec " + sh + " -c " + shQuote(printWords+shJoin(words))},
			} {
				if filepath.Base(sh) != "dash" && filepath.Base(sh) != "bash" && tc.name == "sh -c" {
					continue // busybox and zsh need their own argv[1]
				}
				got := runShell(t, sh, tc.script)
				if len(got) != len(words) {
					t.Fatalf("%s: %d words back, want %d", tc.name, len(got), len(words))
				}
				for i := range words {
					if got[i] != words[i] {
						t.Errorf("%s: %q came back as %q", tc.name, words[i], got[i])
					}
				}
			}
		})
	}
}
