package hclconfig

import (
	"bytes"
	"fmt"

	"github.com/hashicorp/hcl/v2"
)

// scanner checks a file against the limits in one pass over its bytes,
// without building anything. It reads the file the way hclsyntax's lexer
// does (scan_tokens.rl in github.com/hashicorp/hcl/v2): comments, strings
// with their escapes and templates, heredocs with their markers, and the
// braces that end a template, so that no nesting hides from it in what it
// took for text. Where it cannot tell, it counts more, never less: a
// closing bracket of the wrong kind closes nothing.
type scanner struct {
	file  string
	src   []byte
	pos   int
	stack []level
	// templates holds the indexes in stack of the open ${ and %{, the
	// innermost last.
	templates []int
	// depth is the nesting: one for each level, plus the operators of
	// the item each level is at, plus topOps.
	depth  int
	topOps int // operators of the top-level item
	// braces counts "{" less "}" outside strings, as the lexer does to
	// know which "}" ends a template.
	braces int
	tokens int
	// itemTokens is tokens at the start of the top-level item, and
	// chunkTokens at the start of the chunk.
	itemTokens, chunkTokens int
	// chunks holds where each chunk of whole top-level items parseChunks
	// takes ends, but the last.
	chunks []int
	copied int // bytes the parser copies to join pieces of text
	// text is set after text in a string, which the next text continues.
	text  bool
	sites int
	// operand is set when the last token outside strings ends a value: a
	// "[" after it is an index or a splat, which the parser nests.
	operand bool
	// itemStart is set at the start of a top-level item, where "site"
	// begins a site block.
	itemStart bool
	// noCommentEnd is an offset with no "*/" after it: a "/*" there is
	// not a comment.
	noCommentEnd int
	maxStack     int // the deepest the stack went, for tests
	diag         *hcl.Diagnostic
}

type levelKind uint8

const (
	inParens   levelKind = iota // ( )
	inBrackets                  // [ ]
	inBraces                    // { }: a block's body or an object
	inTemplate                  // ${ } or %{ } in a string or heredoc
	inString                    // " "
	inHeredoc                   // <<EOT ... EOT
)

// level is one open bracket, string or heredoc.
type level struct {
	kind levelKind
	ops  int // operators of the item it is at; template directives in a string
	// braces is, for inTemplate, the brace count at which "}" ends it.
	braces int
	// marker ends an inHeredoc, alone on a line.
	marker []byte
	// lineStart is set in a heredoc at the start of a line, where the
	// marker may be.
	lineStart bool
	// joining is set in a string or heredoc after a piece of text that
	// the parser will join the next to; run is where the first starts.
	joining bool
	run     int
}

func newScanner(filename string, src []byte) *scanner {
	s := &scanner{file: filename, src: src, itemStart: true, noCommentEnd: len(src) + 1}
	if bytes.HasPrefix(src, []byte(bom)) {
		s.pos = len(bom)
	}
	return s
}

// run scans the file to its end or its first exceeded limit.
func (s *scanner) run() {
	for s.pos < len(s.src) && s.diag == nil {
		if s.tokens > MaxTokens {
			s.fail(s.pos, s.pos+1, "Too many tokens", fmt.Sprintf(
				"A configuration file holds at most %d tokens (names, numbers, symbols, line ends, comments and pieces of strings); this one goes on past here.",
				MaxTokens))
			return
		}
		if s.tokens-s.itemTokens > MaxBlockTokens {
			s.fail(s.pos, s.pos+1, "Block too large", fmt.Sprintf(
				"A block or argument outside blocks holds at most %d tokens; this one goes on past here.", MaxBlockTokens))
			return
		}
		switch top := s.top(); {
		case top == nil || top.kind <= inTemplate:
			s.code()
		case top.kind == inString:
			s.quoted()
		default:
			s.heredoc()
		}
	}
}

func (s *scanner) top() *level {
	if len(s.stack) == 0 {
		return nil
	}
	return &s.stack[len(s.stack)-1]
}

func (s *scanner) peek(i int) byte {
	if s.pos+i < len(s.src) {
		return s.src[s.pos+i]
	}
	return 0
}

// fail records the first exceeded limit, at the bytes from start to end.
func (s *scanner) fail(start, end int, summary, detail string) {
	if s.diag == nil {
		s.diag = limitError(s.file, s.src, start, end, summary, detail)
	}
}

// push opens a level of kind with the n bytes at s.pos.
func (s *scanner) push(kind levelKind, n int) {
	s.stack = append(s.stack, level{kind: kind})
	s.maxStack = max(s.maxStack, len(s.stack))
	s.pos += n
	s.deeper(s.pos - n)
}

// pop closes the innermost level.
func (s *scanner) pop() {
	top := s.top()
	s.depth -= 1 + top.ops
	if top.kind == inTemplate {
		s.templates = s.templates[:len(s.templates)-1]
	}
	s.stack = s.stack[:len(s.stack)-1]
}

// op counts an operator the parser recurses on, at offset at, in the
// item the innermost level is at.
func (s *scanner) op(at int) {
	if top := s.top(); top != nil {
		top.ops++
	} else {
		s.topOps++
	}
	s.deeper(at)
}

// deeper counts one more level of nesting, opened at offset at.
func (s *scanner) deeper(at int) {
	s.depth++
	if s.depth > MaxDepth {
		s.fail(at, at+1, "Nesting too deep", fmt.Sprintf(
			"Blocks, brackets, strings, templates and operators nest at most %d deep; this goes deeper.", MaxDepth))
	}
}

// endItem is a "," or a line end that ends an item: the operators in it
// are done with.
func (s *scanner) endItem() {
	if top := s.top(); top != nil {
		s.depth -= top.ops
		top.ops = 0
	} else {
		s.depth -= s.topOps
		s.topOps = 0
	}
}

// code reads one token outside strings.
func (s *scanner) code() {
	c, start := s.src[s.pos], s.pos
	if c == ' ' || c == '\t' {
		s.pos++
		return
	}
	s.token()
	operand, itemStart := false, false
	switch {
	case c == '\n' || c == '\r' && s.peek(1) == '\n':
		s.lineEnd(start)
		operand, itemStart = s.operand, len(s.stack) == 0
	case c == '#' || c == '/' && s.peek(1) == '/':
		s.lineComment()
		operand, itemStart = s.operand, len(s.stack) == 0
	case c == '/' && s.peek(1) == '*' && s.blockComment():
		operand, itemStart = s.operand, s.itemStart
	case c == '"':
		s.push(inString, 1)
	case c == '<' && s.peek(1) == '<' && s.heredocStart():
	case c == '{':
		s.braces++
		s.push(inBraces, 1)
	case c == '}' || c == '~' && s.peek(1) == '}':
		operand = s.closeBrace()
	case c == '(' || c == '[':
		s.open(c)
	case c == ')' || c == ']':
		s.close(c)
		operand = true
	case c == ',':
		s.endItem()
		s.pos++
	case c == '-' || c == '!' || c == '?':
		s.op(start)
		s.pos++
	case isDigit(c):
		s.number()
		operand = true
	case isIdentByte(c) && c != '-':
		s.ident()
		operand = true
	default:
		s.pos++
	}
	s.operand, s.itemStart = operand, itemStart
}

// lineEnd reads a line end outside strings: the end of an item at the top
// level and in braces. In brackets and parentheses the parser skips it.
func (s *scanner) lineEnd(start int) {
	s.pos = start + 1
	if s.src[start] == '\r' {
		s.pos++
	}
	if top := s.top(); top == nil || top.kind == inBraces {
		s.endItem()
	}
	if len(s.stack) > 0 {
		return
	}
	// The end of a top-level item: a chunk may end here.
	s.itemTokens = s.tokens
	if s.tokens-s.chunkTokens >= chunkTokens {
		s.chunks = append(s.chunks, s.pos)
		s.chunkTokens = s.tokens
	}
}

// lineComment reads a comment to the end of its line, which the parser
// takes as a line end.
func (s *scanner) lineComment() {
	i := bytes.IndexByte(s.src[s.pos:], '\n')
	if i < 0 {
		s.pos = len(s.src)
		return
	}
	s.lineEnd(s.pos + i)
}

// blockComment reads "/*" to the first "*/" and reports whether there was
// one. Without one, "/" is a token of its own.
func (s *scanner) blockComment() bool {
	if s.pos < s.noCommentEnd {
		if i := bytes.Index(s.src[s.pos+2:], []byte("*/")); i >= 0 {
			s.pos += 2 + i + 2
			return true
		}
		s.noCommentEnd = s.pos
	}
	return false
}

// open reads "(" or "[". A "[" after a value is an index or a splat: the
// parser nests what follows it, so it counts in the enclosing item too.
func (s *scanner) open(c byte) {
	if c == '[' && s.operand {
		s.op(s.pos)
	}
	kind := inParens
	if c == '[' {
		kind = inBrackets
	}
	s.push(kind, 1)
}

// close reads ")" or "]", which closes the innermost level if it is of
// its kind.
func (s *scanner) close(c byte) {
	if top := s.top(); top != nil && (c == ')' && top.kind == inParens || c == ']' && top.kind == inBrackets) {
		s.pop()
	}
	s.pos++
}

// closeBrace reads "}" or "~}". As for the lexer, it ends the innermost
// template when the braces opened since are all closed, and is a brace
// otherwise. It reports whether it ended a value.
func (s *scanner) closeBrace() bool {
	n := 1
	if s.src[s.pos] == '~' {
		n = 2
	}
	s.pos += n
	if len(s.templates) > 0 && s.stack[s.templates[len(s.templates)-1]].braces == s.braces {
		for t := s.templates[len(s.templates)-1]; len(s.stack) > t; {
			s.pop()
		}
		s.braces--
		return false
	}
	s.braces--
	if top := s.top(); n == 1 && top != nil && top.kind == inBraces {
		s.pop()
		return true
	}
	return false
}

// number reads a number the way the lexer does: a digit, then digits,
// dots and exponents, not ending in a dot.
func (s *scanner) number() {
	start, end := s.pos, s.pos+1
	for end < len(s.src) {
		c := s.src[end]
		if isDigit(c) || c == '.' {
			end++
			continue
		}
		j := end + 1
		if j < len(s.src) && (s.src[j] == '+' || s.src[j] == '-') {
			j++
		}
		if (c != 'e' && c != 'E') || j >= len(s.src) || !isDigit(s.src[j]) {
			break
		}
		end = j
	}
	for s.src[end-1] == '.' {
		end--
	}
	s.pos = end
	if lit := s.src[start:end]; len(lit) > MaxNumberLength || exponentDigits(lit) > MaxExponentDigits {
		s.fail(start, end, "Number too large", fmt.Sprintf(
			"A number has at most %d characters and an exponent of at most %d digit, as in 1e9.", MaxNumberLength, MaxExponentDigits))
	}
}

// exponentDigits returns the most digits of an exponent in lit.
func exponentDigits(lit []byte) int {
	most := 0
	for i := 0; i < len(lit); i++ {
		if lit[i] != 'e' && lit[i] != 'E' {
			continue
		}
		j := i + 1
		if j < len(lit) && (lit[j] == '+' || lit[j] == '-') {
			j++
		}
		n := 0
		for j+n < len(lit) && isDigit(lit[j+n]) {
			n++
		}
		most = max(most, n)
	}
	return most
}

// ident reads a name. A "site" that starts a top-level item starts a site
// block.
func (s *scanner) ident() {
	start := s.pos
	for s.pos < len(s.src) && isIdentByte(s.src[s.pos]) {
		if s.src[s.pos] >= 0x80 {
			// The lexer may end the name at any character outside
			// ASCII and start another after it: count each byte of
			// one as two tokens.
			s.tokens += 2
		}
		s.pos++
	}
	if !s.itemStart || len(s.stack) > 0 || string(s.src[start:s.pos]) != "site" {
		return
	}
	s.sites++
	if s.sites > MaxSites {
		s.fail(start, s.pos, "Too many sites", fmt.Sprintf("A configuration file holds at most %d sites; this is one more.", MaxSites))
	}
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// isIdentByte reports whether c may be part of a name. Every byte of a
// character outside ASCII may: it is never one the scanner looks for.
func isIdentByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || isDigit(c) || c == '_' || c == '-' || c >= 0x80
}
