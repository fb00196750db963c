package hclconfig

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclparse"

	"github.com/zsm-dev/zsm/internal/config"
)

// Defaults for keys a site leaves out; docs/config.md lists them too.
var defaults = config.Site{
	Mode:     config.Handoff,
	Protocol: config.TCP,
	Pool: config.Pool{
		MinIdle:  1,
		Max:      4,
		Queue:    256,
		IdleStop: 10 * time.Minute,
	},
	Timeouts: config.Timeouts{Start: 30 * time.Second, Stop: 30 * time.Second},
}

// Options carries what decoding needs from the environment.
type Options struct {
	// Home replaces a leading "~" in directory. Empty means
	// os.UserHomeDir.
	Home string
}

// Load reads and decodes the file at path. A decoding problem is returned as
// an *Error listing every problem found.
func Load(path string) (*config.File, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(path, src, Options{})
}

// Parse decodes src, the content of the file filename. A decoding problem is
// returned as an *Error listing every problem found.
func Parse(filename string, src []byte, opt Options) (*config.File, error) {
	abs, err := filepath.Abs(filename)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if opt.Home == "" {
		opt.Home, _ = os.UserHomeDir()
	}
	p := hclparse.NewParser()
	hf, diags := p.ParseHCL(src, filename)
	if diags.HasErrors() {
		return nil, &Error{Diagnostics: diags, files: p.Files()}
	}
	d := &decoder{dir: filepath.Dir(abs), home: opt.Home}
	f := d.file(hf.Body)
	f.Path = abs
	if d.diags.HasErrors() {
		sort.SliceStable(d.diags, func(i, j int) bool { return before(d.diags[i], d.diags[j]) })
		return nil, &Error{Diagnostics: d.diags, files: p.Files()}
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
		},
		Blocks: []hcl.BlockHeaderSchema{
			{Type: "pool"}, {Type: "timeouts"}, {Type: "backend"}, {Type: "status"}, {Type: "limits"},
		},
	}
	poolSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "min_idle"}, {Name: "max"}, {Name: "queue"}, {Name: "max_requests"},
		{Name: "max_memory"}, {Name: "max_age"}, {Name: "idle_stop"}, {Name: "exit_when_idle"},
	}}
	timeoutsSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "start"}, {Name: "stop"}, {Name: "watchdog"}}}
	backendSchema  = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "address", Required: true}, {Name: "ports", Required: true},
	}}
	statusSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "listen", Required: true}}}
	limitsSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "memory"}, {Name: "cpu"}}}
)

// siteName is what a site may be called: it becomes a systemd unit instance
// (zsm@NAME.socket, typed as is, so nothing may need escaping), a D-Bus
// object path element and a journal field value.
var siteName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

const maxSiteName = 64

// decoder collects every problem of one file.
type decoder struct {
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

func (d *decoder) file(body hcl.Body) *config.File {
	content, diags := body.Content(fileSchema)
	d.diags = append(d.diags, diags...)
	f := &config.File{}
	seen := map[string]hcl.Range{}
	var claimed []bound
	for _, b := range content.Blocks {
		name, nameRng := b.Labels[0], b.LabelRanges[0]
		switch {
		case !siteName.MatchString(name):
			d.errorf(nameRng, "Invalid site name",
				"Site name %q cannot become a unit name: use letters, digits, '-', '_' and '.', starting with a letter or digit.", name)
		case len(name) > maxSiteName:
			d.errorf(nameRng, "Invalid site name", "Site name %q is longer than %d characters.", name, maxSiteName)
		}
		if first, dup := seen[name]; dup {
			d.errorf(nameRng, "Duplicate site", "Site %q is already defined at %s.", name, short(first))
		} else {
			seen[name] = nameRng
		}
		s, addrs := d.site(name, b.Body)
		for _, a := range addrs {
			for _, c := range claimed {
				if conflict(a.addr, c.addr) {
					d.errorf(a.rng, "Address already in use",
						"Site %q listens on %s, which site %q already uses at %s.", name, a.addr, c.site, short(c.rng))
				}
			}
		}
		claimed = append(claimed, addrs...)
		f.Sites = append(f.Sites, s)
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

// site decodes one site block; it returns the addresses the site binds so
// that the file can check for collisions between sites.
func (d *decoder) site(name string, body hcl.Body) (*config.Site, []bound) {
	s := defaults
	s.Name = name
	s.Directory = d.dir
	s.Environment = map[string]string{}

	content, diags := body.Content(siteSchema)
	d.diags = append(d.diags, diags...)
	at := content.Attributes

	var claimed []bound
	if a := at["listen"]; a != nil {
		es, ok := d.list(a)
		for _, e := range es {
			if v, ok := d.str(e); ok {
				if addr, ok := d.address(e.Range(), v); ok {
					for _, c := range claimed {
						if conflict(addr, c.addr) {
							d.errorf(e.Range(), "Address already in use", "%s is listed twice in site %q.", addr, name)
						}
					}
					s.Listen = append(s.Listen, addr)
					claimed = append(claimed, bound{addr, name, e.Range()})
				}
			}
		}
		if ok && len(es) == 0 {
			d.errorf(a.Expr.Range(), "No listen address", "Site %q needs at least one address in listen.", name)
		}
	}
	if a := at["command"]; a != nil {
		es, valid := d.list(a)
		for _, e := range es {
			v, ok := d.str(e)
			valid = valid && ok
			if ok {
				if strings.ContainsAny(v, "\x00\n") {
					d.errorf(e.Range(), "Invalid command", "Command arguments cannot contain newlines or NUL bytes.")
				}
				s.Command = append(s.Command, v)
			}
		}
		if valid && (len(s.Command) == 0 || s.Command[0] == "") {
			d.errorf(a.Expr.Range(), "Invalid command", "The command must name a program to run.")
		}
	}
	if a := at["mode"]; a != nil {
		if v, ok := d.str(a.Expr); ok {
			switch m := config.Mode(v); m {
			case config.Handoff, config.Listen, config.Proxy:
				s.Mode = m
			default:
				d.errorf(a.Expr.Range(), "Invalid mode", "Mode %q is not one of \"handoff\", \"listen\" or \"proxy\".", v)
			}
		}
	}
	if a := at["protocol"]; a != nil {
		if v, ok := d.str(a.Expr); ok {
			switch p := config.Protocol(v); p {
			case config.TCP, config.HTTP:
				s.Protocol = p
			default:
				d.errorf(a.Expr.Range(), "Invalid protocol", "Protocol %q is not one of \"tcp\" or \"http\".", v)
			}
		}
	}
	if a := at["directory"]; a != nil {
		if v, ok := d.str(a.Expr); ok {
			s.Directory = d.path(a.Expr.Range(), v)
		}
	}
	if a := at["environment"]; a != nil {
		d.environment(a, s.Environment)
	}
	if a := at["eager"]; a != nil {
		d.decode(a.Expr, &s.Eager)
	}

	blocks := d.singleBlocks(content.Blocks)
	if b := blocks["pool"]; b != nil {
		d.pool(b.Body, &s.Pool)
	}
	if b := blocks["timeouts"]; b != nil {
		d.timeouts(b.Body, &s.Timeouts)
	}
	if b := blocks["backend"]; b != nil {
		if s.Mode != config.Proxy {
			d.errorf(b.DefRange, "Backend outside proxy mode",
				"A backend block only applies to mode = \"proxy\"; site %q uses mode %q.", name, s.Mode)
		}
		s.Backend = d.backend(b.Body)
	} else if s.Mode == config.Proxy {
		rng := body.MissingItemRange()
		if a := at["mode"]; a != nil {
			rng = a.Expr.Range()
		}
		d.errorf(rng, "Missing backend", "Site %q uses mode = \"proxy\" and needs a backend block with address and ports.", name)
	}
	if b := blocks["status"]; b != nil {
		if a := d.attrs(b.Body, statusSchema)["listen"]; a != nil {
			if v, ok := d.str(a.Expr); ok {
				if addr, ok := d.address(a.Expr.Range(), v); ok {
					for _, c := range claimed {
						if conflict(addr, c.addr) {
							d.errorf(a.Expr.Range(), "Address already in use", "The status page of site %q cannot share %s with its listen addresses.", name, addr)
						}
					}
					s.Status = &addr
					claimed = append(claimed, bound{addr, name, a.Expr.Range()})
				}
			}
		}
	}
	if b := blocks["limits"]; b != nil {
		d.limits(b.Body, &s.Limits)
	}
	return &s, claimed
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
	content, diags := body.Content(schema)
	d.diags = append(d.diags, diags...)
	return content.Attributes
}

func (d *decoder) pool(body hcl.Body, p *config.Pool) {
	at := d.attrs(body, poolSchema)
	d.integer(at["min_idle"], 0, &p.MinIdle)
	d.integer(at["max"], 1, &p.Max)
	d.integer(at["queue"], 0, &p.Queue)
	d.integer(at["max_requests"], 0, &p.MaxRequests)
	d.size(at["max_memory"], &p.MaxMemory)
	d.duration(at["max_age"], 0, &p.MaxAge)
	d.duration(at["idle_stop"], 0, &p.IdleStop)
	if a := at["exit_when_idle"]; a != nil {
		d.decode(a.Expr, &p.ExitWhenIdle)
	}
	if p.MinIdle > p.Max {
		rng := body.MissingItemRange()
		if a := at["min_idle"]; a != nil {
			rng = a.Expr.Range()
		}
		d.errorf(rng, "Invalid pool", "min_idle (%d) cannot be larger than max (%d).", p.MinIdle, p.Max)
	}
	if p.ExitWhenIdle && p.IdleStop == 0 {
		d.errorf(at["exit_when_idle"].Expr.Range(), "Invalid pool", "exit_when_idle needs idle_stop to be set.")
	}
}

func (d *decoder) timeouts(body hcl.Body, t *config.Timeouts) {
	at := d.attrs(body, timeoutsSchema)
	d.duration(at["start"], time.Second, &t.Start)
	d.duration(at["stop"], time.Second, &t.Stop)
	d.duration(at["watchdog"], time.Second, &t.Watchdog)
}

func (d *decoder) backend(body hcl.Body) *config.Backend {
	at := d.attrs(body, backendSchema)
	b := &config.Backend{}
	if a := at["ports"]; a != nil {
		if v, ok := d.str(a.Expr); ok {
			ports, err := parsePorts(v)
			if err != nil {
				d.errorf(a.Expr.Range(), "Invalid ports", "%s", err)
			}
			b.Ports = ports
		}
	}
	if a := at["address"]; a != nil {
		if v, ok := d.str(a.Expr); ok {
			b.Address = v
			if len(b.Ports) > 1 && !strings.Contains(v, "{port}") {
				d.errorf(a.Expr.Range(), "Invalid backend address",
					"With several ports the address must contain {port}, as in \"127.0.0.1:{port}\".")
			}
			for _, port := range b.Ports {
				addr, err := parseAddress(b.Addr(port))
				if err == nil && addr.Net == config.NetTCP && addr.Host == "" {
					err = fmt.Errorf("%q needs a host to connect to", b.Addr(port))
				}
				if err != nil {
					d.errorf(a.Expr.Range(), "Invalid backend address", "%s", err)
					break
				}
			}
		}
	}
	return b
}

func (d *decoder) limits(body hcl.Body, l *config.Limits) {
	at := d.attrs(body, limitsSchema)
	d.size(at["memory"], &l.Memory)
	if a := at["cpu"]; a != nil {
		if v, ok := d.str(a.Expr); ok {
			n, err := strconv.Atoi(strings.TrimSuffix(v, "%"))
			if err != nil || n <= 0 || !strings.HasSuffix(v, "%") {
				d.errorf(a.Expr.Range(), "Invalid CPU limit", "cpu = %q: want a percentage of one CPU, such as \"50%%\" or \"200%%\".", v)
			}
			l.CPUPercent = n
		}
	}
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func (d *decoder) environment(a *hcl.Attribute, env map[string]string) {
	pairs, diags := hcl.ExprMap(a.Expr)
	if diags.HasErrors() {
		d.errorf(a.Expr.Range(), "Invalid environment", "environment must be a map, as in { APP_ENV = \"prod\" }.")
		return
	}
	for _, kv := range pairs {
		var k, v string
		if d.decode(kv.Key, &k) && !envName.MatchString(k) {
			d.errorf(kv.Key.Range(), "Invalid environment", "%q is not a valid environment variable name.", k)
		}
		if d.decode(kv.Value, &v) && strings.ContainsRune(v, 0) {
			d.errorf(kv.Value.Range(), "Invalid environment", "Environment values cannot contain NUL bytes.")
		}
		env[k] = v
	}
}

// path resolves a directory: "~" is the home directory, a relative path is
// relative to the config file.
func (d *decoder) path(rng hcl.Range, p string) string {
	if strings.ContainsAny(p, "\x00\n") {
		d.errorf(rng, "Invalid directory", "A directory cannot contain newlines or NUL bytes.")
		return p
	}
	if p == "~" || strings.HasPrefix(p, "~/") {
		p = filepath.Join(d.home, p[1:])
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(d.dir, p)
	}
	return filepath.Clean(p)
}

func (d *decoder) address(rng hcl.Range, v string) (config.Address, bool) {
	a, err := parseAddress(v)
	if err != nil {
		d.errorf(rng, "Invalid address", "%s", err)
		return a, false
	}
	return a, true
}

// decode evaluates a literal expression into v, reporting type errors at
// the expression.
func (d *decoder) decode(e hcl.Expression, v any) bool {
	// Evaluate first so that an expression that has no value (a variable,
	// a function call) is one problem, not also a type mismatch.
	if _, diags := e.Value(nil); diags.HasErrors() {
		d.diags = append(d.diags, diags...)
		return false
	}
	diags := gohcl.DecodeExpression(e, nil, v)
	d.diags = append(d.diags, diags...)
	return !diags.HasErrors()
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

func (d *decoder) integer(a *hcl.Attribute, min int, v *int) {
	if a == nil {
		return
	}
	var n int
	if d.decode(a.Expr, &n) {
		if n < min {
			d.errorf(a.Expr.Range(), "Invalid value", "%s must be at least %d.", a.Name, min)
			return
		}
		*v = n
	}
}

// duration decodes a duration string of at least min.
func (d *decoder) duration(a *hcl.Attribute, min time.Duration, v *time.Duration) {
	if a == nil {
		return
	}
	s, ok := d.str(a.Expr)
	if !ok {
		return
	}
	t, err := time.ParseDuration(s)
	if err != nil || t < 0 {
		d.errorf(a.Expr.Range(), "Invalid duration", "%s = %q: want a duration with a unit, such as \"30s\", \"10m\" or \"1h30m\".", a.Name, s)
		return
	}
	if t < min {
		d.errorf(a.Expr.Range(), "Invalid duration", "%s must be at least %s.", a.Name, min)
		return
	}
	*v = t
}

func (d *decoder) size(a *hcl.Attribute, v *config.Size) {
	if a == nil {
		return
	}
	s, ok := d.str(a.Expr)
	if !ok {
		return
	}
	n, err := config.ParseSize(s)
	if err != nil {
		d.errorf(a.Expr.Range(), "Invalid size", "%s: %s", a.Name, err)
		return
	}
	*v = n
}
