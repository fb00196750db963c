package hclconfig

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/gocty"

	"github.com/zsm-dev/zsm/internal/config"
)

// Options carries what decoding needs from the environment.
type Options struct {
	// Home replaces a leading "~" in directory. Empty means
	// os.UserHomeDir.
	Home string
}

// Load reads and decodes the file at path. A decoding problem is returned as
// an *Error listing every problem found. Load reads no more than one byte
// past MaxFileSize, however large the file.
func Load(path string) (*config.File, error) {
	src, err := Read(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, src, Options{})
}

// Read reads the file at path for Parse, no more than one byte past
// MaxFileSize.
func Read(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	src, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return src, nil
}

// Parse decodes src, the content of the file filename. A decoding problem is
// returned as an *Error listing every problem found (decoding stops at the
// site after the thousandth). A file over one of the limits (MaxFileSize
// and the others) is not parsed: the *Error names the first limit
// exceeded, where it is exceeded.
func Parse(filename string, src []byte, opt Options) (*config.File, error) {
	abs, err := filepath.Abs(filename)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if opt.Home == "" {
		opt.Home, _ = os.UserHomeDir()
	}
	files := map[string]*hcl.File{filename: {Bytes: src}}
	chunks, diags := checkLimits(filename, src)
	if diags.HasErrors() {
		return nil, &Error{Diagnostics: diags, files: files}
	}
	body, diags := parseChunks(filename, src, chunks)
	if diags.HasErrors() {
		return nil, &Error{Diagnostics: diags, files: files}
	}
	d := &decoder{src: src, dir: filepath.Dir(abs), home: opt.Home}
	f := d.file(body)
	f.Path = abs
	if d.diags.HasErrors() {
		sort.SliceStable(d.diags, func(i, j int) bool { return before(d.diags[i], d.diags[j]) })
		return nil, &Error{Diagnostics: d.diags, files: files}
	}
	return f, nil
}

var (
	fileSchema = &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: "site", LabelNames: []string{"name"}}}}
	siteSchema = &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{
			{Name: "listen", Required: true},
			{Name: "command", Required: true},
			{Name: "mode"},
			{Name: "protocol"},
			{Name: "directory"},
			{Name: "environment"},
			{Name: "eager"},
			{Name: "stop_signal"},
			{Name: "slow_log"},
			{Name: "slow_log_signal"},
		},
		Blocks: []hcl.BlockHeaderSchema{
			{Type: "pool"}, {Type: "timeouts"}, {Type: "backend"}, {Type: "status"}, {Type: "limits"},
		},
	}
	poolSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "min_idle"}, {Name: "max"}, {Name: "queue"}, {Name: "max_requests"},
		{Name: "max_memory"}, {Name: "max_age"}, {Name: "idle_stop"}, {Name: "exit_when_idle"},
	}}
	timeoutsSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "start"}, {Name: "stop"}, {Name: "watchdog"},
		{Name: "handoff"}, {Name: "queue"}, {Name: "connect"}, {Name: "first_byte"},
		{Name: "drain"}, {Name: "idle"}, {Name: "request"},
	}}
	backendSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "address", Required: true}, {Name: "ports", Required: true},
		{Name: "instances"}, {Name: "maxconn"},
	}}
	statusSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "listen", Required: true}, {Name: "public"}}}
	limitsSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "memory"}, {Name: "cpu"}}}
)

// maxProblems is how many problems the decoder collects before it stops
// decoding sites: every problem is work, and a file of ten thousand is
// one to fix from the top.
const maxProblems = 1000

// decoder collects every problem of one file, up to maxProblems and
// those of the site that reaches it.
type decoder struct {
	src   []byte // the file
	dir   string // the config file's directory
	home  string
	diags hcl.Diagnostics
}

func (d *decoder) errorf(rng hcl.Range, summary, format string, args ...any) {
	d.diags = append(d.diags, &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  summary,
		Detail:   fmt.Sprintf(format, args...),
		Subject:  rng.Ptr(),
	})
}

// bound is a socket address claimed by a site, for collision checks.
type bound struct {
	addr config.Address
	site string
	rng  hcl.Range
}

// file decodes the sites of body, each validated by config.Site.Validate,
// and reports what spans sites (the rules of config.File.Validate) with
// the place each clash was first written: an address is reported with the
// first other site's address it conflicts with. The sites' warnings go in the
// file's Warnings.
func (d *decoder) file(body hcl.Body) *config.File {
	content, diags := bodyContent(body, fileSchema)
	d.diags = append(d.diags, diags...)
	f := &config.File{}
	seen := map[string]hcl.Range{}
	var claimed []bound
	var set config.AddressSet // the addresses of claimed, in order
	for _, b := range content.Blocks {
		if len(d.diags) >= maxProblems {
			d.errorf(b.DefRange, "Too many problems",
				"Decoding stopped after %d problems: this site and those after it were not checked.", len(d.diags))
			break
		}
		name, nameRng := b.Labels[0], b.LabelRanges[0]
		if first, dup := seen[name]; dup {
			d.errorf(nameRng, "Duplicate site", "Site %q is already defined at %s.", name, short(first))
		} else {
			seen[name] = nameRng
		}
		sd := d.site(b)
		addrs := sd.claims()
		for _, a := range addrs {
			if first := set.Conflict(a.addr); first >= 0 {
				c := claimed[first]
				d.errorf(a.rng, "Address already in use",
					"Site %q listens on %s, which site %q already uses at %s.", name, a.addr, c.site, short(c.rng))
			}
		}
		for _, a := range addrs {
			set.Add(a.addr)
		}
		claimed = append(claimed, addrs...)
		f.Sites = append(f.Sites, sd.s)
		f.Warnings = append(f.Warnings, sd.warnings()...)
	}
	return f
}

// before orders diagnostics by where they point.
func before(a, b *hcl.Diagnostic) bool {
	if a.Subject == nil || b.Subject == nil {
		return b.Subject == nil && a.Subject != nil
	}
	if a.Subject.Start.Line != b.Subject.Start.Line {
		return a.Subject.Start.Line < b.Subject.Start.Line
	}
	return a.Subject.Start.Column < b.Subject.Start.Column
}

// short formats a range as line:col for a message about another place.
func short(r hcl.Range) string {
	return fmt.Sprintf("%s:%d:%d", r.Filename, r.Start.Line, r.Start.Column)
}

// singleBlocks indexes blocks by type, reporting a type given twice.
func (d *decoder) singleBlocks(blocks hcl.Blocks) map[string]*hcl.Block {
	m := map[string]*hcl.Block{}
	for _, b := range blocks {
		if first, dup := m[b.Type]; dup {
			d.errorf(b.DefRange, "Duplicate block", "Only one %s block is allowed; the first is at %s.", b.Type, short(first.DefRange))
			continue
		}
		m[b.Type] = b
	}
	return m
}

func (d *decoder) attrs(body hcl.Body, schema *hcl.BodySchema) hcl.Attributes {
	content, diags := bodyContent(body, schema)
	d.diags = append(d.diags, diags...)
	return content.Attributes
}

// path resolves a directory: "~" is the home directory, a relative path is
// relative to the config file. Whether the result is usable is
// config.Site.Validate's to say.
func (d *decoder) path(p string) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		p = filepath.Join(d.home, p[1:])
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(d.dir, p)
	}
	return filepath.Clean(p)
}

// decode evaluates a literal expression into v, reporting type errors at
// the expression as gohcl.DecodeExpression does. It refuses an expression
// that is not a literal before evaluating it, and writes a number as a
// string from its text (numberText).
func (d *decoder) decode(e hcl.Expression, v any) bool {
	if diags := literal(e); diags.HasErrors() {
		d.diags = append(d.diags, diags...)
		return false
	}
	if s, ok := v.(*string); ok {
		if text, ok := numberText(d.src, e); ok {
			*s = text
			return true
		}
	}
	val, diags := e.Value(nil)
	if diags.HasErrors() {
		d.diags = append(d.diags, diags...)
		return false
	}
	ty, err := gocty.ImpliedType(v)
	if err != nil {
		panic(fmt.Sprintf("hclconfig: decoding into %T: %v", v, err))
	}
	if val, err = convert.Convert(val, ty); err == nil {
		err = gocty.FromCtyValue(val, v)
	}
	if err != nil {
		d.diags = append(d.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Unsuitable value type",
			Detail:   fmt.Sprintf("Unsuitable value: %s", err),
			Subject:  e.StartRange().Ptr(),
			Context:  e.Range().Ptr(),
		})
		return false
	}
	return true
}

func (d *decoder) str(e hcl.Expression) (string, bool) {
	var s string
	return s, d.decode(e, &s)
}

// list returns the elements of a list attribute; ok is false when it is not
// a list.
func (d *decoder) list(a *hcl.Attribute) (es []hcl.Expression, ok bool) {
	es, diags := hcl.ExprList(a.Expr)
	if diags.HasErrors() {
		d.errorf(a.Expr.Range(), "Invalid value", "%s must be a list, as in [\"a\", \"b\"].", a.Name)
		return nil, false
	}
	return es, true
}
