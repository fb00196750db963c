package hclconfig

import (
	"bytes"
	"fmt"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// quoted reads one piece of the string at the top of the stack: its
// closing quote, a line end, a sign, an escape or a character.
func (s *scanner) quoted() {
	switch c := s.src[s.pos]; {
	case c == '"':
		s.token()
		s.pop()
		s.pos++
		s.operand = true
	case c == '$' || c == '%':
		s.sign()
	case c == '\n' || c == '\r':
		s.token()
		s.pos++
	case c == '\\':
		// An escape is a backslash and the character after it. A
		// backslash that ends the line or the file is a token alone.
		if n := s.peek(1); n == 0 && s.pos+1 == len(s.src) || n == '\n' || n == '\r' {
			s.token()
			s.pos++
			break
		}
		s.textChar(s.pos)
		s.pos += 1 + charLen(s.src[s.pos+1:])
	default:
		s.textChar(s.pos)
		s.pos += charLen(s.src[s.pos:])
	}
}

// token counts a token.
func (s *scanner) token() {
	s.tokens++
	s.text = false
}

// textChar counts a character of text in a string: the lexer makes one
// token of a run of them.
func (s *scanner) textChar(at int) {
	if !s.text {
		s.tokens++
		s.piece(at)
	}
	s.text = true
}

// piece counts a piece of text, starting at offset at, in the string or
// heredoc at the top of the stack. The parser joins the pieces that no
// template separates, copying the text before each: a heredoc is copied
// once per line.
func (s *scanner) piece(at int) {
	str := s.top()
	if !str.joining {
		str.joining, str.run = true, at
		return
	}
	s.copied += at - str.run
	if s.copied > MaxTextCopy {
		s.fail(at, at+1, "Text too long", fmt.Sprintf(
			"HCL copies a heredoc's text once per line (and a string's once per lone $ or %%): "+
				"the strings and heredocs of a file may take at most %d MiB of copying, as 1000 lines of 32 characters do.",
			MaxTextCopy>>20))
	}
}

// sign reads a "$" or "%" in a string or heredoc: "${" and "%{" open a
// template, "$${" and "%%{" are the text "${" and "%{", and a sign alone is
// text. In a heredoc, the line goes on: it cannot be the marker.
func (s *scanner) sign() {
	c := s.src[s.pos]
	if s.peek(1) == '{' {
		s.openTemplate()
		return
	}
	s.piece(s.pos)
	s.pos++
	if s.peek(0) == c && s.peek(1) == '{' {
		s.pos += 2
	}
	s.token()
	s.top().lineStart = false
}

// openTemplate reads "${" or "%{", with a "~" after, in the string or
// heredoc at the top of the stack. The template ends at the "}" that
// closes its braces.
func (s *scanner) openTemplate() {
	str := len(s.stack) - 1
	s.stack[str].lineStart, s.stack[str].joining = false, false
	n := 2
	if s.peek(2) == '~' {
		n = 3
	}
	s.token()
	s.braces++
	directive := s.src[s.pos] == '%'
	s.push(inTemplate, n)
	s.stack[len(s.stack)-1].braces = s.braces
	s.templates = append(s.templates, len(s.stack)-1)
	if directive {
		s.directive(str)
	}
}

// directive counts the nesting of a template directive in the string or
// heredoc str: "if" and "for" open one, "endif" and "endfor" close one,
// "else" neither. Anything else counts as opening, which is never less
// than the parser nests.
func (s *scanner) directive(str int) {
	i := s.pos
	for i < len(s.src) && (s.src[i] == ' ' || s.src[i] == '\t') {
		i++
	}
	j := i
	for j < len(s.src) && isIdentByte(s.src[j]) {
		j++
	}
	switch l := &s.stack[str]; string(s.src[i:j]) {
	case "else":
	case "endif", "endfor":
		if l.ops > 0 {
			l.ops--
			s.depth--
		}
	default:
		l.ops++
		s.deeper(s.pos)
	}
}

// heredocStart opens a heredoc at "<<" if the lexer would: "<<" or "<<-",
// a name, and the end of the line. It reports whether it did.
func (s *scanner) heredocStart() bool {
	i := s.pos + 2
	if i < len(s.src) && s.src[i] == '-' {
		i++
	}
	end := i
	for end < len(s.src) && isIdentByte(s.src[end]) {
		end++
	}
	eol := s.eolAt(end)
	switch {
	case eol == 0:
		return false
	case end-i > maxMarkerLength:
		s.fail(i, end, "Heredoc marker too long", fmt.Sprintf("A heredoc's marker has at most %d characters.", maxMarkerLength))
		return true
	case !validMarker(s.src[i:end]):
		return false
	}
	s.token()
	s.push(inHeredoc, end+eol-s.pos)
	doc := s.top()
	doc.marker, doc.lineStart = s.src[i:end], true
	return true
}

// validMarker reports whether m is a name, as a heredoc's marker must be.
func validMarker(m []byte) bool {
	if len(m) == 0 {
		return false
	}
	for i, c := range m {
		switch {
		case c >= 0x80:
			return hclsyntax.ValidIdentifier(string(m))
		case c == '-' || isDigit(c):
			if i == 0 {
				return false
			}
		case !isIdentByte(c):
			return false
		}
	}
	return true
}

// heredoc reads one piece of the heredoc at the top of the stack: a sign,
// or a line's text.
func (s *scanner) heredoc() {
	switch c := s.src[s.pos]; {
	case c == '$' || c == '%':
		s.sign()
	case c == '\r' && s.peek(1) != '\n':
		// The lexer stops at a carriage return alone in a heredoc:
		// the rest of the file is one invalid token.
		s.token()
		s.pos = len(s.src)
	default:
		s.heredocText()
	}
}

// heredocText reads text in a heredoc up to a sign or the end of the
// line. A line that holds only the marker, around spaces,
// ends the heredoc; the line end after it is then a line end of code.
func (s *scanner) heredocText() {
	doc, start := s.top(), s.pos
	s.piece(start)
	for s.pos < len(s.src) {
		c := s.src[s.pos]
		if c == '$' || c == '%' || c == '\r' || c == '\n' {
			break
		}
		s.pos += charLen(s.src[s.pos:])
	}
	s.token()
	eol := s.eolAt(s.pos)
	switch {
	case eol == 0:
		doc.lineStart = false
	case doc.lineStart && bytes.Equal(bytes.TrimSpace(s.src[start:s.pos]), doc.marker):
		s.pop()
		s.operand = true
	default:
		s.pos += eol
		doc.lineStart = true
	}
}

// eolAt returns the length of the line end at offset i: 1 for "\n", 2 for
// "\r\n", 0 for none.
func (s *scanner) eolAt(i int) int {
	switch {
	case i < len(s.src) && s.src[i] == '\n':
		return 1
	case i+1 < len(s.src) && s.src[i] == '\r' && s.src[i+1] == '\n':
		return 2
	}
	return 0
}

// charLen returns the length of the character at the start of b, which
// is UTF-8 (checkLimits made sure).
func charLen(b []byte) int {
	_, n := utf8.DecodeRune(b)
	return n
}
