package man

import (
	"fmt"
	"regexp"
	"strings"
)

// The Markdown that docs/config.md and activation/PROTOCOL.md are
// written in, turned into roff with the man macros: headings, paragraphs,
// fenced code, tables, lists with "-" or "1.", and inside text `code`,
// **strong**, *emphasis* and [links](url). Nothing else is needed; a
// construct it does not know comes out as text.

// page describes a manual page generated from a Markdown document.
type page struct {
	source  string // the Markdown, from the repository's root
	file    string // the page, in contrib/man
	name    string // NAME: zsm.hcl
	section string // 5
	desc    string // NAME's description; "" takes the document's title
	seeAlso string // roff for SEE ALSO
}

// manRefs are the man pages of the documents that links point to.
var manRefs = map[string]string{
	"../activation/PROTOCOL.md": "zsm-protocol(7)",
	"activation/PROTOCOL.md":    "zsm-protocol(7)",
	"docs/config.md":            "zsm.hcl(5)",
	"../docs/config.md":         "zsm.hcl(5)",
}

// render turns the Markdown md into the page p.
func (p page) render(md string) string {
	var b strings.Builder
	fmt.Fprintf(&b, ".\\\" Generated from %s by contrib/man's tests: go test ./contrib/man -update. Do not edit.\n", p.source)
	fmt.Fprintf(&b, ".nr HY 0\n.TH %s %s \"\" zsm \"zsm manual\"\n.nh\n.ad l\n", strings.ToUpper(p.name), p.section)
	lines := strings.Split(strings.TrimRight(md, "\n"), "\n")
	desc := p.desc
	if strings.HasPrefix(lines[0], "# ") {
		if desc == "" {
			title := strings.TrimPrefix(lines[0], "# ")
			desc = strings.ToLower(title[:1]) + title[1:]
		}
		lines = lines[1:]
	}
	fmt.Fprintf(&b, ".SH NAME\n%s \\- %s\n.SH DESCRIPTION\n", p.name, escape(desc))
	blocks(&b, lines)
	fmt.Fprintf(&b, ".SH SEE ALSO\n%s\n", p.seeAlso)
	return b.String()
}

var (
	itemRE  = regexp.MustCompile(`^(-|\d+\.) +`)
	tableRE = regexp.MustCompile(`^\|.*\|$`)
)

// blocks renders lines, a sequence of Markdown blocks.
func blocks(b *strings.Builder, lines []string) {
	for i := 0; i < len(lines); {
		line := lines[i]
		switch {
		case strings.TrimSpace(line) == "":
			i++
		case strings.HasPrefix(line, "## "):
			fmt.Fprintf(b, ".SH\n%s\n", inline(strings.TrimPrefix(line, "## ")))
			i++
		case strings.HasPrefix(line, "### "):
			fmt.Fprintf(b, ".SS\n%s\n", inline(strings.TrimPrefix(line, "### ")))
			i++
		case strings.HasPrefix(line, "```"):
			i = code(b, lines, i)
		case tableRE.MatchString(line):
			i = table(b, lines, i)
		case itemRE.MatchString(line):
			i = list(b, lines, i)
		default:
			b.WriteString(".PP\n")
			for ; i < len(lines) && !blockEnds(lines[i]); i++ {
				text(b, lines[i])
			}
		}
	}
}

// blockEnds says whether line ends a paragraph or a list item.
func blockEnds(line string) bool {
	return strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "```") ||
		tableRE.MatchString(line)
}

// text writes one line of running text.
func text(b *strings.Builder, line string) {
	s := inline(strings.TrimSpace(line))
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	b.WriteString(s + "\n")
}

// code renders the fenced block starting at lines[i], literally.
func code(b *strings.Builder, lines []string, i int) int {
	b.WriteString(".PP\n.RS 4\n.EX\n")
	for i++; i < len(lines) && !strings.HasPrefix(lines[i], "```"); i++ {
		s := strings.ReplaceAll(lines[i], `\`, `\e`)
		if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
			s = `\&` + s
		}
		b.WriteString(s + "\n")
	}
	b.WriteString(".EE\n.RE\n")
	return i + 1
}

// unlabelled are the headers of a table's last column that read well
// without their name, as the body of an entry.
var unlabelled = map[string]bool{"meaning": true, "why": true, "value": true}

// table renders the table starting at lines[i], a row per entry: the
// first cell is the tag; the cells between, "header: cell", follow it in
// parentheses; the last is the body.
func table(b *strings.Builder, lines []string, i int) int {
	header := cells(lines[i])
	last := len(header) - 1
	for i += 2; i < len(lines) && tableRE.MatchString(lines[i]); i++ {
		row := cells(lines[i])
		var about []string
		for j := 1; j < len(row) && j < last; j++ {
			if row[j] != "" {
				about = append(about, header[j]+": "+row[j])
			}
		}
		body := row[min(last, len(row)-1)]
		if last > 0 && !unlabelled[header[last]] && body != "" {
			about, body = append(about, header[last]+": "+body), ""
		}
		tag := inline(row[0])
		if len(about) > 0 {
			tag += " (" + inline(strings.Join(about, "; ")) + ")"
		}
		fmt.Fprintf(b, ".TP\n%s\n", tag)
		if body != "" {
			text(b, body)
		}
	}
	b.WriteString(".PP\n")
	return i
}

// cells splits a table row.
func cells(row string) []string {
	parts := strings.Split(strings.Trim(row, "|"), " | ")
	for i, p := range parts {
		parts[i] = strings.TrimSpace(p)
	}
	return parts
}

// list renders the list starting at lines[i]; an item goes on over the
// lines that follow it, up to a blank line or the next item.
func list(b *strings.Builder, lines []string, i int) int {
	for i < len(lines) && itemRE.MatchString(lines[i]) {
		marker := itemRE.FindStringSubmatch(lines[i])[1]
		if marker == "-" {
			b.WriteString(".IP \\(bu 2\n")
		} else {
			fmt.Fprintf(b, ".IP %s 4\n", marker)
		}
		text(b, itemRE.ReplaceAllString(lines[i], ""))
		for i++; i < len(lines) && !blockEnds(lines[i]) && !itemRE.MatchString(lines[i]); i++ {
			text(b, lines[i])
		}
		if i+1 < len(lines) && strings.TrimSpace(lines[i]) == "" && itemRE.MatchString(lines[i+1]) {
			i++ // a blank line between items
		}
	}
	b.WriteString(".PP\n")
	return i
}

// inline renders the text of a line: code, strong, emphasis, links.
func inline(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		switch {
		case s[i] == '`':
			if end := strings.IndexByte(s[i+1:], '`'); end >= 0 {
				code := strings.ReplaceAll(escape(s[i+1:i+1+end]), "-", `\-`)
				b.WriteString(`\fB` + code + `\fR`)
				i += end + 2
				continue
			}
		case strings.HasPrefix(s[i:], "**"):
			if end := strings.Index(s[i+2:], "**"); end > 0 {
				b.WriteString(`\fB` + inline(s[i+2:i+2+end]) + `\fR`)
				i += end + 4
				continue
			}
		case s[i] == '*' && i+1 < len(s) && s[i+1] != ' ':
			if end := strings.IndexByte(s[i+1:], '*'); end > 0 {
				b.WriteString(`\fI` + inline(s[i+1:i+1+end]) + `\fR`)
				i += end + 2
				continue
			}
		case s[i] == '[':
			if m := linkRE.FindStringSubmatch(s[i:]); m != nil {
				b.WriteString(link(m[1], m[2]))
				i += len(m[0])
				continue
			}
		}
		b.WriteString(escape(s[i : i+1]))
		i++
	}
	return b.String()
}

var linkRE = regexp.MustCompile(`^\[([^\]]+)\]\(([^)]+)\)`)

// link renders a link's text, followed by the man page of the document it
// points to, or by its address when it leaves the repository.
func link(text, url string) string {
	switch {
	case manRefs[url] != "":
		return inline(text) + " (" + manRefs[url] + ")"
	case strings.Contains(url, "://"):
		return inline(text) + " (" + escape(url) + ")"
	}
	return inline(text)
}

// escape makes text safe in roff: backslashes are \e.
func escape(s string) string { return strings.ReplaceAll(s, `\`, `\e`) }
