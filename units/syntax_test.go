package units

// A reader for unit files written from systemd's documented rules, the
// oracle the escapers are tested against: systemd.syntax(7) "Quoting" for
// words and C escapes, systemd.unit(5) "Specifiers" for "%%", and
// systemd.service(5) "Command lines" for "$$". It is strict where systemd is
// lenient (a quote inside a word, an unknown "%" or "$" sequence are
// errors), because the escapers must never produce those.

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

func isWhitespace(c byte) bool { return strings.IndexByte(whitespace, c) >= 0 }

// checkLineValue reports what systemd's line reader would change in v: a
// newline ends the line, whitespace at either end is stripped, a trailing
// backslash joins the next line.
func checkLineValue(v string) error {
	switch {
	case strings.ContainsAny(v, "\n\r"):
		return errors.New("raw newline")
	case strings.Trim(v, whitespace) != v:
		return errors.New("whitespace at an end")
	case strings.HasSuffix(v, `\`):
		return errors.New("trailing backslash")
	}
	return nil
}

// splitWords splits v into words the way systemd unquotes a setting
// (extract_first_word with EXTRACT_UNQUOTE|EXTRACT_CUNESCAPE).
func splitWords(v string) ([]string, error) {
	var words []string
	i := 0
	for {
		for i < len(v) && isWhitespace(v[i]) {
			i++
		}
		if i == len(v) {
			return words, nil
		}
		var w strings.Builder
		if q := v[i]; q == '"' || q == '\'' {
			i++
			for {
				if i == len(v) {
					return nil, errors.New("unterminated quote")
				}
				c := v[i]
				if c == q {
					i++
					break
				}
				if c == '\\' {
					s, n, err := cunescape(v[i+1:])
					if err != nil {
						return nil, err
					}
					w.WriteString(s)
					i += 1 + n
					continue
				}
				w.WriteByte(c)
				i++
			}
			if i < len(v) && !isWhitespace(v[i]) {
				return nil, errors.New("closing quote not followed by whitespace")
			}
		} else {
			for i < len(v) && !isWhitespace(v[i]) {
				c := v[i]
				switch c {
				case '"', '\'':
					return nil, errors.New("quote inside a word")
				case '\\':
					s, n, err := cunescape(v[i+1:])
					if err != nil {
						return nil, err
					}
					w.WriteString(s)
					i += 1 + n
				default:
					w.WriteByte(c)
					i++
				}
			}
		}
		words = append(words, w.String())
	}
}

// cunescape decodes the escape after a backslash at the start of s (the
// table of systemd.syntax(7)) and says how many bytes it used.
func cunescape(s string) (string, int, error) {
	if s == "" {
		return "", 0, errors.New("backslash at the end")
	}
	simple := map[byte]string{'a': "\a", 'b': "\b", 'f': "\f", 'n': "\n", 'r': "\r", 't': "\t", 'v': "\v", '\\': `\`, '"': `"`, '\'': "'", 's': " "}
	if r, ok := simple[s[0]]; ok {
		return r, 1, nil
	}
	hex := func(digits int) (uint64, error) {
		if len(s) < 1+digits {
			return 0, errors.New("short escape")
		}
		return strconv.ParseUint(s[1:1+digits], 16, 32)
	}
	switch c := s[0]; {
	case c == 'x':
		v, err := hex(2)
		if err != nil || v == 0 {
			return "", 0, fmt.Errorf("bad \\x escape in %q", s)
		}
		return string([]byte{byte(v)}), 3, nil
	case c == 'u' || c == 'U':
		n := 4
		if c == 'U' {
			n = 8
		}
		v, err := hex(n)
		if err != nil || v == 0 || !utf8.ValidRune(rune(v)) {
			return "", 0, fmt.Errorf("bad \\%c escape in %q", c, s)
		}
		return string(rune(v)), 1 + n, nil
	case c >= '0' && c <= '7':
		if len(s) < 3 {
			return "", 0, errors.New("short octal escape")
		}
		v, err := strconv.ParseUint(s[:3], 8, 8)
		if err != nil || v == 0 {
			return "", 0, fmt.Errorf("bad octal escape in %q", s)
		}
		return string([]byte{byte(v)}), 3, nil
	default:
		return "", 0, fmt.Errorf("unknown escape \\%c", c)
	}
}

// expandSpecifiers applies specifier expansion with the given values:
// "%%" gives "%", "%X" the value of X; an unknown specifier is an error.
func expandSpecifiers(s string, values map[byte]string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 == len(s) {
			return "", errors.New("lone % at the end")
		}
		i++
		if s[i] == '%' {
			b.WriteByte('%')
			continue
		}
		v, ok := values[s[i]]
		if !ok {
			return "", fmt.Errorf("unknown specifier %%%c", s[i])
		}
		b.WriteString(v)
	}
	return b.String(), nil
}

// unescapeSpecifiers expects no specifier but "%%".
func unescapeSpecifiers(s string) (string, error) { return expandSpecifiers(s, nil) }

// unescapeDollars applies an Exec line's environment expansion to s with no
// variables set, strictly: "$$" gives "$", any other "$" is an error.
func unescapeDollars(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 == len(s) || s[i+1] != '$' {
			return "", fmt.Errorf("unescaped $ in %q", s)
		}
		b.WriteByte('$')
		i++
	}
	return b.String(), nil
}

// setting is one Key=Value line of a unit file.
type setting struct {
	Section, Key, Value string
}

// parseUnit reads a unit file strictly: every line is empty, a "#"
// comment, a [Section] or Key=Value, and no value trips the line reader.
func parseUnit(content []byte) ([]setting, error) {
	if !bytes.HasSuffix(content, []byte("\n")) {
		return nil, errors.New("no final newline")
	}
	var out []setting
	section := ""
	for n, line := range strings.Split(strings.TrimSuffix(string(content), "\n"), "\n") {
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" || k == "" || strings.Trim(k, whitespace) != k {
				return nil, fmt.Errorf("line %d: not a setting: %q", n+1, line)
			}
			if err := checkLineValue(v); err != nil {
				return nil, fmt.Errorf("line %d: %w: %q", n+1, err, line)
			}
			out = append(out, setting{section, k, v})
		}
	}
	return out, nil
}
