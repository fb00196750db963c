package units

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestEscapers(t *testing.T) {
	for _, tc := range []struct {
		name    string
		fn      func(string) (string, error)
		in      string
		want    string
		wantErr string
	}{
		{"exec arg plain", execArg, "serve", "serve", ""},
		{"exec arg percent and dollar", execArg, "100%$HOME", "100%%$$HOME", ""},
		{"exec arg space", execArg, "a b", `"a b"`, ""},
		{"exec arg empty", execArg, "", `""`, ""},
		{"exec arg quotes and backslash", execArg, `it's "x" \n`, `"it's \"x\" \\n"`, ""},
		{"exec arg newline and tab", execArg, "a\nb\tc\r", `"a\nb\tc\r"`, ""},
		{"exec arg control", execArg, "a\x01\x7f", `"a\x01\x7f"`, ""},
		{"exec arg semicolon", execArg, ";", `";"`, ""}, // a bare ";" separates commands
		{"exec arg semicolons", execArg, ";;", ";;", ""},
		{"exec arg unicode", execArg, "café", "café", ""},
		{"exec arg NUL", execArg, "a\x00", "", "NUL"},
		{"exec arg bad UTF-8", execArg, "a\xff", "", "UTF-8"},
		{"program plain", execCommand, "/usr/bin/zsm", "/usr/bin/zsm", ""},
		{"program space and percent", execCommand, "/opt/my zsm/1%", `"/opt/my zsm/1%%"`, ""},
		{"program dollar", execCommand, "/opt/$x/zsm", "@/opt/$x/zsm /opt/$$x/zsm", ""},
		{"program dollar and space", execCommand, "/opt/$x y/zsm", `"@/opt/$x y/zsm" "/opt/$$x y/zsm"`, ""},
		{"program relative", execCommand, "zsm", "", "absolute"},
		{"program quote", execCommand, `/a"b`, "", "quote"},
		{"environment", func(s string) (string, error) { return envAssignment("ZSM_CONFIG", s) }, `/a b/1%$"x"`, `"ZSM_CONFIG=/a b/1%%$\"x\""`, ""},
		{"environment newline", func(s string) (string, error) { return envAssignment("ZSM_CONFIG", s) }, "/a\nb", `"ZSM_CONFIG=/a\nb"`, ""},
		{"environment control", func(s string) (string, error) { return envAssignment("ZSM_CONFIG", s) }, "/a\x1b", "", "control character"},
		{"environment bad name", func(s string) (string, error) { return envAssignment("1X", s) }, "/a", "", "invalid environment variable name"},
		{"raw", rawValue, `/a b/"c" $d 5%`, `/a b/"c" $d 5%%`, ""},
		{"raw newline", rawValue, "/a\nb", "", "control character"},
		{"raw leading space", rawValue, " /a", "", "whitespace"},
		{"raw trailing tab", rawValue, "/a\t", "", "control character"},
		{"raw trailing backslash", rawValue, `/a\`, "", "backslash"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.fn(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("(%q) = %q, %v; want an error containing %q", tc.in, got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

// FuzzEscapers checks every escaper against the oracle reader: what an
// escaper returns reads back as its input under the rules systemd applies
// to that setting, never holds a raw newline, and it fails only on input
// that the setting cannot carry.
func FuzzEscapers(f *testing.F) {
	for _, s := range []string{
		"", "a", "a b", "100%", "$HOME", "${X}", "$$", "%%i", `"q"`, "'q'", `\`, `a\`,
		"a\nb", "\t", " lead", "trail ", "\x00", "\xff", "\x7f", "café", ";", "@x", "-x",
		`\x41`, `%t/x`, "/a/b.hcl",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		badText := strings.IndexByte(s, 0) >= 0 || !utf8.ValidString(s)
		hasControl := strings.IndexFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f }) >= 0

		// Exec line argument: unquote, specifiers, then "$$".
		if out, err := execArg(s); (err != nil) != badText {
			t.Errorf("execArg(%q) error %v, want error %v", s, err, badText)
		} else if err == nil {
			got := readWord(t, "execArg", s, out, true)
			if got != s {
				t.Errorf("execArg(%q) = %q reads back as %q", s, out, got)
			}
		}

		// Environment= assignment: unquote, then specifiers.
		envBad := badText || strings.IndexFunc(s, func(r rune) bool { return (r < ' ' || r == 0x7f) && r != '\t' && r != '\n' }) >= 0
		if out, err := envAssignment("ZSM_CONFIG", s); (err != nil) != envBad {
			t.Errorf("envAssignment(%q) error %v, want error %v", s, err, envBad)
		} else if err == nil {
			if got := readWord(t, "envAssignment", s, out, false); got != "ZSM_CONFIG="+s {
				t.Errorf("envAssignment(%q) = %q reads back as %q", s, out, got)
			}
		}

		// ListenStream=: specifiers only.
		rawBad := badText || hasControl || strings.Trim(s, whitespace) != s || strings.HasSuffix(s, `\`)
		if out, err := rawValue(s); (err != nil) != rawBad {
			t.Errorf("rawValue(%q) error %v, want error %v", s, err, rawBad)
		} else if err == nil {
			if err := checkLineValue(out); err != nil {
				t.Errorf("rawValue(%q) = %q: %v", s, out, err)
			}
			if got, err := unescapeSpecifiers(out); err != nil || got != s {
				t.Errorf("rawValue(%q) = %q reads back as %q, %v", s, out, got, err)
			}
		}

		// Program of an Exec line: the path is unquoted and expanded for
		// specifiers only; argv[0] also for "$$".
		prog := "/" + s
		if out, err := execCommand(prog); err == nil {
			checkProgram(t, prog, out)
		} else if !badText && !hasControl && !strings.ContainsAny(prog, `"'\`) && !strings.HasSuffix(prog, "/") {
			t.Errorf("execCommand(%q): %v", prog, err)
		}

		// Header: any absolute path reads back, on one line.
		if !badText {
			h := "# " + sourceHeader(prog) + "\n[Service]\n"
			if strings.Count(h, "\n") != 2 {
				t.Errorf("sourceHeader(%q) spans lines: %q", prog, h)
			}
			if src, ok := ParseHeader([]byte(h)); !ok || src != prog {
				t.Errorf("ParseHeader(header of %q) = %q, %v", prog, src, ok)
			}
		}
		// And nothing that is not a header is taken for one by accident.
		if src, ok := ParseHeader([]byte(s)); ok && !strings.HasPrefix(s, headerPrefix) {
			t.Errorf("ParseHeader(%q) = %q, true", s, src)
		}
	})
}

// readWord checks that out is one word that survives the line reader and
// returns it unquoted and unescaped (specifiers, and "$$" if dollars).
func readWord(t *testing.T, fn, in, out string, dollars bool) string {
	t.Helper()
	if err := checkLineValue(out); err != nil {
		t.Fatalf("%s(%q) = %q: %v", fn, in, out, err)
	}
	if dollars && out == ";" {
		t.Fatalf("%s(%q) = %q: a bare semicolon separates commands", fn, in, out)
	}
	words, err := splitWords(out)
	if err != nil || len(words) != 1 {
		t.Fatalf("%s(%q) = %q splits into %q, %v; want one word", fn, in, out, words, err)
	}
	w, err := unescapeSpecifiers(words[0])
	if err == nil && dollars {
		w, err = unescapeDollars(w)
	}
	if err != nil {
		t.Fatalf("%s(%q) = %q: %v", fn, in, out, err)
	}
	return w
}

// checkProgram checks that out starts an Exec line that runs prog with
// argv[0] prog.
func checkProgram(t *testing.T, prog, out string) {
	t.Helper()
	if err := checkLineValue(out); err != nil {
		t.Fatalf("execCommand(%q) = %q: %v", prog, out, err)
	}
	words, err := splitWords(out)
	if err != nil || len(words) == 0 {
		t.Fatalf("execCommand(%q) = %q splits into %q, %v", prog, out, words, err)
	}
	path, err := unescapeSpecifiers(words[0])
	if err != nil {
		t.Fatalf("execCommand(%q) = %q: %v", prog, out, err)
	}
	argv0 := path
	if p, ok := strings.CutPrefix(path, "@"); ok {
		if len(words) != 2 {
			t.Fatalf("execCommand(%q) = %q: want @PATH ARGV0", prog, out)
		}
		path = p
		if argv0, err = unescapeSpecifiers(words[1]); err == nil {
			argv0, err = unescapeDollars(argv0)
		}
		if err != nil {
			t.Fatalf("execCommand(%q) = %q: argv[0]: %v", prog, out, err)
		}
	} else if len(words) != 1 || strings.Contains(path, "$") {
		t.Fatalf("execCommand(%q) = %q: want one word without $", prog, out)
	}
	if path != prog || argv0 != prog {
		t.Errorf("execCommand(%q) = %q runs %q with argv[0] %q", prog, out, path, argv0)
	}
}

// TestOracle checks the oracle reader itself on values whose meaning
// systemd.syntax(7) spells out, so that the fuzz target tests against
// systemd's rules and not against a mirror image of the escapers.
func TestOracle(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{`a b`, []string{"a", "b"}, false},
		{`"a b" 'c d'`, []string{"a b", "c d"}, false},
		{`"a\"b" 'it\'s'`, []string{`a"b`, "it's"}, false},
		{`\s\x41\101\u00e9`, []string{" AAé"}, false},
		{`"\n\t\\"`, []string{"\n\t\\"}, false},
		{`"a`, nil, true},
		{`"a"b`, nil, true},
		{`a"b"`, nil, true},
		{`\q`, nil, true},
		{`\x00`, nil, true},
	} {
		got, err := splitWords(tc.in)
		if (err != nil) != tc.wantErr || fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("splitWords(%q) = %q, %v; want %q (error %v)", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
	if got, err := expandSpecifiers("%t/%%i-%i", map[byte]string{'t': "/run", 'i': "x"}); err != nil || got != "/run/%i-x" {
		t.Errorf("expandSpecifiers = %q, %v", got, err)
	}
	if _, err := unescapeSpecifiers("%i"); err == nil {
		t.Error("unescapeSpecifiers accepted %i")
	}
	if got, err := unescapeDollars("$$a$$"); err != nil || got != "$a$" {
		t.Errorf("unescapeDollars = %q, %v", got, err)
	}
	if _, err := unescapeDollars("$a"); err == nil {
		t.Error("unescapeDollars accepted $a")
	}
	if _, err := parseUnit([]byte("[Unit]\nDescription=x\nnot a setting\n")); err == nil {
		t.Error("parseUnit accepted a line without =")
	}
}
