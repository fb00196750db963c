package units

// Escapers for unit-file values. systemd reads a value in up to three passes,
// and each setting uses its own subset of them:
//
//  1. unquoting (systemd.syntax(7) "Quoting"): the value is split into
//     words at unquoted whitespace; "..." and '...' wrap a whole word; C
//     escapes (\n, \\, \", \xNN, ...) are decoded inside and outside quotes.
//  2. specifier expansion (systemd.unit(5) "Specifiers"): "%i", "%t", ...
//     are replaced, "%%" gives "%".
//  3. environment expansion, Exec lines only (systemd.service(5) "Command
//     lines"): "${FOO}" and "$FOO" are replaced, "$$" gives "$". The program
//     to run (the first word) is never expanded; its argv[0] copy is.
//
// Before any of that, the line reader strips whitespace around a value and
// joins a line ending in a backslash with the next one; a raw newline would
// end the value. So every escaper here either quotes and C-escapes control
// characters, or rejects them, and none ever returns a raw newline.
//
// Which pass applies to which setting (systemd's load-fragment.c, and
// checked against systemd 252 in a user manager): ListenStream= gets
// specifiers only (no unquoting, so a path with spaces is written as is);
// Environment= gets unquoting and specifiers ("$" means nothing there);
// Exec lines get all three; CPUQuota= and MemoryMax= get none.

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// whitespace is what systemd's line reader and word splitter treat as
// whitespace (WHITESPACE in systemd's string-util.h).
const whitespace = " \t\n\r"

var (
	errNUL        = errors.New("contains a NUL byte")
	errUTF8       = errors.New("is not valid UTF-8")
	errControl    = errors.New("contains a control character")
	errWhitespace = errors.New("starts or ends with whitespace")
	errBackslash  = errors.New("ends with a backslash (systemd would join the next line)")
)

// escapeSpecifiers doubles every "%" so that specifier expansion gives s back.
func escapeSpecifiers(s string) string { return strings.ReplaceAll(s, "%", "%%") }

// escapeDollars doubles every "$" so that an Exec line's environment
// expansion gives s back.
func escapeDollars(s string) string { return strings.ReplaceAll(s, "$", "$$") }

// isControl reports whether c is a byte systemd counts as a control
// character (string_has_cc: below space, or DEL).
func isControl(c byte) bool { return c < ' ' || c == 0x7f }

// checkText rejects what no escaping can carry: NUL bytes (C strings) and
// invalid UTF-8 (systemd warns about and ignores such lines).
func checkText(s string) error {
	if strings.IndexByte(s, 0) >= 0 {
		return errNUL
	}
	if !utf8.ValidString(s) {
		return errUTF8
	}
	return nil
}

// needsQuotes reports whether s, written bare, would not come back from
// unquoting as the single word s: it is empty, or holds whitespace, a
// quote, a backslash or a control character.
func needsQuotes(s string) bool {
	if s == "" {
		return true
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == ' ' || isControl(c) || c == '"' || c == '\'' || c == '\\' {
			return true
		}
	}
	return false
}

// quote returns s as one double-quoted word per systemd.syntax(7):
// backslash and double quote are backslash-escaped, newline, tab and
// carriage return become \n, \t and \r, other control characters \xNN.
// The result never holds a raw control character. It does not touch "%" or
// "$": callers escape those first, as the setting requires.
func quote(s string) (string, error) {
	if err := checkText(s); err != nil {
		return "", err
	}
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\n':
			b.WriteString(`\n`)
		case '\t':
			b.WriteString(`\t`)
		case '\r':
			b.WriteString(`\r`)
		default:
			if isControl(c) {
				fmt.Fprintf(&b, `\x%02x`, c)
			} else {
				b.WriteByte(c)
			}
		}
	}
	b.WriteByte('"')
	return b.String(), nil
}

// word returns s as one word of a quoted setting: bare when that is safe,
// quoted otherwise.
func word(s string) (string, error) {
	if err := checkText(s); err != nil {
		return "", err
	}
	if needsQuotes(s) {
		return quote(s)
	}
	return s, nil
}

// execArg returns s as one argument word of an Exec line (ExecStart= and
// friends): "%" and "$" doubled, then quoted if needed. A lone ";" is quoted
// too: bare, it separates two commands.
func execArg(s string) (string, error) {
	if s == ";" {
		return `";"`, nil
	}
	return word(escapeDollars(escapeSpecifiers(s)))
}

// execCommand returns the words that start an Exec line running the absolute
// program path: the program, and, when needed, its argv[0].
//
// systemd never expands variables in the program path but does in argv[0],
// which it copies from the path, so a path holding "$" cannot be written as
// one word: "$$" would be looked up literally, "$" could be expanded in
// argv[0]. Such a path is written with the "@" prefix, which takes argv[0]
// from the next word: "@PATH" with "$" as is, then PATH with "$" doubled.
// systemd refuses quotes, backslashes and control characters in a program
// path (string_is_safe), so those are errors here.
func execCommand(path string) (string, error) {
	if err := checkText(path); err != nil {
		return "", err
	}
	if !strings.HasPrefix(path, "/") {
		return "", errors.New("is not an absolute path")
	}
	if strings.HasSuffix(path, "/") {
		return "", errors.New("names a directory")
	}
	for i := 0; i < len(path); i++ {
		if c := path[i]; isControl(c) || c == '"' || c == '\'' || c == '\\' {
			return "", errors.New("contains a quote, backslash or control character, which systemd refuses in a program path")
		}
	}
	if !strings.Contains(path, "$") {
		return word(escapeSpecifiers(path))
	}
	prog, err := word("@" + escapeSpecifiers(path))
	if err != nil {
		return "", err
	}
	argv0, err := execArg(path)
	if err != nil {
		return "", err
	}
	return prog + " " + argv0, nil
}

// envAssignment returns one Environment= word setting name to value: always
// quoted, "%" doubled ("$" has no meaning in Environment=). systemd refuses
// values with control characters other than tab and newline, so those are
// errors; tab and newline are C-escaped.
func envAssignment(name, value string) (string, error) {
	if !validEnvName(name) {
		return "", fmt.Errorf("invalid environment variable name %q", name)
	}
	if err := checkText(value); err != nil {
		return "", err
	}
	for i := 0; i < len(value); i++ {
		if c := value[i]; isControl(c) && c != '\t' && c != '\n' {
			return "", errControl
		}
	}
	return quote(escapeSpecifiers(name + "=" + value))
}

// validEnvName reports whether name is a variable name systemd accepts:
// ASCII letters, digits and underscores, not starting with a digit.
func validEnvName(name string) bool {
	if name == "" || (name[0] >= '0' && name[0] <= '9') {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// rawValue returns s for a setting that systemd does not unquote, only
// expands specifiers in (ListenStream=): "%" doubled, everything else as is.
// What such a setting cannot carry is an error: control characters,
// whitespace at either end (the line reader strips it), and a trailing
// backslash (it joins the next line).
func rawValue(s string) (string, error) {
	if err := checkText(s); err != nil {
		return "", err
	}
	for i := 0; i < len(s); i++ {
		if isControl(s[i]) {
			return "", errControl
		}
	}
	if strings.Trim(s, whitespace) != s {
		return "", errWhitespace
	}
	if strings.HasSuffix(s, `\`) {
		return "", errBackslash
	}
	return escapeSpecifiers(s), nil
}
