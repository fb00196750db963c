package units

// Quoting for the POSIX shell command language (XCU 2.2 "Quoting"), used by
// the inittab, rc and crontab generators. A word is left bare only when it
// holds nothing any shell treats specially, nor anything sysvinit's own
// command splitter does (it runs a process field without a shell when the
// field holds none of "~`!$^&*()=|\{}[];\"'<>?", splitting it at blanks and
// cutting it at "#"); every other word is put in single quotes, inside which
// sh takes every character literally, and a single quote is written '\''.

import (
	"errors"
	"strings"
)

// shSafe reports whether c may stand unquoted in a shell word, in any
// position of any word (so "=", which makes a first word an assignment, and
// "~", expanded at the start of a word, are not).
func shSafe(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("_@%+:,./-", c) >= 0
}

// shQuote returns s as one sh word: bare when every byte is safe, else in
// single quotes. The result reads back as s in every POSIX shell, in any
// position of a simple command or assignment.
func shQuote(s string) string {
	if s == "" {
		return "''"
	}
	safe := true
	for i := 0; i < len(s); i++ {
		if !shSafe(s[i]) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// shJoin quotes each word and joins them with spaces: a simple command.
func shJoin(words []string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = shQuote(w)
	}
	return strings.Join(q, " ")
}

// checkLine rejects what a line-based file (inittab, a crontab, an rc
// script's comments) cannot carry in a value: NUL bytes, invalid UTF-8 and
// control characters, a newline above all.
func checkLine(s string) error {
	if err := checkText(s); err != nil {
		return err
	}
	for i := 0; i < len(s); i++ {
		if isControl(s[i]) {
			return errControl
		}
	}
	return nil
}

// checkAbsPath accepts an absolute path a generated file can carry.
func checkAbsPath(p string) error {
	if err := checkLine(p); err != nil {
		return err
	}
	if !strings.HasPrefix(p, "/") {
		return errors.New("is not an absolute path")
	}
	return nil
}
