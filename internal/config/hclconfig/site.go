package hclconfig

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/zsm-dev/zsm/internal/config"
)

// siteDecoder decodes one site block into s, starting from config.Default.
// It reports what is syntax or type (a key that is not a list, a duration
// without a unit, an address it cannot read) itself, and leaves the rules
// to config.Site.Validate. To point Validate's problems at the text, it
// records where each key, element and block of the site was written, by
// the name config.Problem.Field gives it.
type siteDecoder struct {
	*decoder
	s      *config.Site
	header hcl.Range            // the site block's "site "NAME"", for problems with nothing nearer
	ranges map[string]hcl.Range // config.Problem.Field → where it is written
	// lists holds where each element of a list key is written, in the
	// order of the list in the Site: lists["listen"][1] is the field
	// "listen[1]".
	lists map[string][]hcl.Range
	// failed holds the fields that did not decode; their problem is
	// reported, and what Validate says about the value left in its
	// place would only repeat it.
	failed map[string]bool
}

// site decodes, then validates, one site block.
func (d *decoder) site(b *hcl.Block) *siteDecoder {
	s := config.Default()
	s.Name = b.Labels[0]
	s.Directory = d.dir
	sd := &siteDecoder{
		decoder: d,
		s:       &s,
		header:  b.DefRange,
		ranges:  map[string]hcl.Range{"name": b.LabelRanges[0]},
		lists:   map[string][]hcl.Range{},
		failed:  map[string]bool{},
	}
	content, diags := bodyContent(b.Body, siteSchema)
	d.diags = append(d.diags, diags...)
	sd.attributes(content.Attributes)
	sd.blocks(content.Blocks)
	sd.validate()
	return sd
}

// warnings returns what config.Site.Warnings finds in the site, each
// where its field is written.
func (sd *siteDecoder) warnings() []config.Warning {
	var ws []config.Warning
	for _, p := range sd.s.Warnings() {
		ws = append(ws, config.Warning{At: short(sd.rangeOf(p.Field)), Problem: p})
	}
	return ws
}

// validate reports the problems config.Site.Validate finds, each where its
// field is written.
func (sd *siteDecoder) validate() {
	var ps config.Problems
	if !errors.As(sd.s.Validate(), &ps) {
		return
	}
	for _, p := range ps {
		if !sd.failed[p.Field] {
			sd.errorf(sd.rangeOf(p.Field), p.Summary, "%s", p.Detail)
		}
	}
}

// rangeOf returns where field is written or, when the key was left out,
// where the nearest key or block around it is ("pool" for
// "pool.min_idle"), else the site's header.
func (sd *siteDecoder) rangeOf(field string) hcl.Range {
	for f := field; f != ""; {
		if r, ok := sd.ranges[f]; ok {
			return r
		}
		if r, ok := sd.element(f); ok {
			return r
		}
		i := strings.LastIndexAny(f, ".[")
		f = f[:max(i, 0)]
	}
	return sd.header
}

// element returns where the list element field, as "listen[1]", is
// written.
func (sd *siteDecoder) element(field string) (hcl.Range, bool) {
	key, index, ok := strings.Cut(field, "[")
	i, err := strconv.Atoi(strings.TrimSuffix(index, "]"))
	if rs := sd.lists[key]; ok && err == nil && 0 <= i && i < len(rs) {
		return rs[i], true
	}
	return hcl.Range{}, false
}

// claims returns the addresses the site binds, where they are written, for
// the checks between sites.
func (sd *siteDecoder) claims() []bound {
	bs := make([]bound, 0, len(sd.s.Listen)+1)
	for i, a := range sd.s.Listen {
		bs = append(bs, bound{a, sd.s.Name, sd.lists["listen"][i]})
	}
	if sd.s.Status != nil {
		bs = append(bs, bound{*sd.s.Status, sd.s.Name, sd.ranges["status.listen"]})
	}
	return bs
}

func (sd *siteDecoder) attributes(at hcl.Attributes) {
	s := sd.s
	s.Listen = sd.addresses("listen", at["listen"])
	s.Command = sd.stringList("command", at["command"])
	if v, ok := sd.text("mode", at["mode"]); ok {
		s.Mode = config.Mode(v)
	}
	if v, ok := sd.text("protocol", at["protocol"]); ok {
		s.Protocol = config.Protocol(v)
	}
	if v, ok := sd.text("directory", at["directory"]); ok {
		s.Directory = sd.path(v)
	}
	sd.environment(at["environment"])
	sd.value("eager", at["eager"], &s.Eager)
	sd.signal("stop_signal", at["stop_signal"], &s.StopSignal)
	sd.duration("slow_log", at["slow_log"], &s.SlowLog)
	sd.signal("slow_log_signal", at["slow_log_signal"], &s.SlowLogSignal)
}

// signal decodes a signal's name (config.ParseSignal).
func (sd *siteDecoder) signal(key string, a *hcl.Attribute, dst *config.Signal) {
	if v, ok := sd.text(key, a); ok {
		if sig, err := config.ParseSignal(v); err != nil {
			sd.fail(key, "Invalid signal", "%s.", err)
		} else {
			*dst = sig
		}
	}
}

func (sd *siteDecoder) blocks(blocks hcl.Blocks) {
	bs := sd.singleBlocks(blocks)
	for _, b := range bs {
		sd.ranges[b.Type] = b.DefRange
	}
	if b := bs["pool"]; b != nil {
		sd.pool(b.Body)
	}
	if b := bs["timeouts"]; b != nil {
		at := sd.attrs(b.Body, timeoutsSchema)
		t := &sd.s.Timeouts
		sd.duration("timeouts.start", at["start"], &t.Start)
		sd.duration("timeouts.stop", at["stop"], &t.Stop)
		sd.duration("timeouts.watchdog", at["watchdog"], &t.Watchdog)
		sd.duration("timeouts.handoff", at["handoff"], &t.Handoff)
		sd.duration("timeouts.queue", at["queue"], &t.Queue)
		sd.duration("timeouts.connect", at["connect"], &t.Connect)
		sd.duration("timeouts.first_byte", at["first_byte"], &t.FirstByte)
		sd.duration("timeouts.drain", at["drain"], &t.Drain)
		sd.duration("timeouts.idle", at["idle"], &t.Idle)
		sd.duration("timeouts.request", at["request"], &t.Request)
	}
	if b := bs["backend"]; b != nil {
		sd.backend(b.Body)
	}
	if b := bs["status"]; b != nil {
		sd.status(b.Body)
	}
	if b := bs["limits"]; b != nil {
		at := sd.attrs(b.Body, limitsSchema)
		sd.size("limits.memory", at["memory"], &sd.s.Limits.Memory)
		sd.cpu("limits.cpu", at["cpu"], &sd.s.Limits.CPUPercent)
	}
}

func (sd *siteDecoder) pool(body hcl.Body) {
	at := sd.attrs(body, poolSchema)
	p := &sd.s.Pool
	sd.value("pool.min_idle", at["min_idle"], &p.MinIdle)
	sd.value("pool.max", at["max"], &p.Max)
	sd.value("pool.queue", at["queue"], &p.Queue)
	sd.value("pool.max_requests", at["max_requests"], &p.MaxRequests)
	sd.size("pool.max_memory", at["max_memory"], &p.MaxMemory)
	sd.duration("pool.max_age", at["max_age"], &p.MaxAge)
	sd.duration("pool.idle_stop", at["idle_stop"], &p.IdleStop)
	sd.value("pool.exit_when_idle", at["exit_when_idle"], &p.ExitWhenIdle)
}

// status decodes the status block: the page's address, and whether it
// may be served on one other hosts reach (config.Site.StatusAllowed).
func (sd *siteDecoder) status(body hcl.Body) {
	at := sd.attrs(body, statusSchema)
	if a := at["listen"]; a != nil {
		if v, ok := sd.text("status.listen", a); ok {
			if addr, ok := sd.address("status.listen", a.Expr.Range(), v); ok {
				sd.s.Status = &addr
			}
		}
	}
	sd.value("status.public", at["public"], &sd.s.StatusPublic)
}

func (sd *siteDecoder) backend(body hcl.Body) {
	at := sd.attrs(body, backendSchema)
	b := &config.Backend{}
	sd.s.Backend = b
	// Both keys are required: HCL reports one left out.
	sd.failed["backend.ports"] = at["ports"] == nil
	sd.failed["backend.address"] = at["address"] == nil
	if v, ok := sd.text("backend.ports", at["ports"]); ok {
		ports, err := parsePorts(v)
		if err != nil {
			sd.fail("backend.ports", "Invalid ports", "%s", err)
		}
		b.Ports = ports
	}
	if v, ok := sd.text("backend.address", at["address"]); ok {
		b.Address = v
	}
	sd.value("backend.instances", at["instances"], &b.Instances)
	sd.value("backend.maxconn", at["maxconn"], &b.MaxConn)
}

// environment decodes the environment map. Each variable is written as
// the field environment["NAME"], from its name to its value.
func (sd *siteDecoder) environment(a *hcl.Attribute) {
	if a == nil {
		return
	}
	sd.ranges["environment"] = a.Expr.Range()
	pairs, diags := hcl.ExprMap(a.Expr)
	if diags.HasErrors() {
		sd.fail("environment", "Invalid environment", "environment must be a map, as in { APP_ENV = \"prod\" }.")
		return
	}
	for _, kv := range pairs {
		var k, v string
		if !sd.decode(kv.Key, &k) {
			continue
		}
		sd.ranges[fmt.Sprintf("environment[%q]", k)] = hcl.RangeBetween(kv.Key.Range(), kv.Value.Range())
		if sd.decode(kv.Value, &v) {
			sd.s.Environment[k] = v
		}
	}
}

// addresses decodes a list of addresses, the key field. An element that
// does not decode is reported and left out; then field is failed, so that
// a list left empty is not reported again.
func (sd *siteDecoder) addresses(field string, a *hcl.Attribute) []config.Address {
	es := sd.elements(field, a)
	addrs := make([]config.Address, 0, len(es))
	rs := make([]hcl.Range, 0, len(es))
	for _, e := range es {
		v, ok := sd.str(e)
		var addr config.Address
		if ok {
			addr, ok = sd.address(field, e.Range(), v)
		}
		if !ok {
			sd.failed[field] = true
			continue
		}
		rs = append(rs, e.Range())
		addrs = append(addrs, addr)
	}
	sd.lists[field] = rs
	if len(addrs) == 0 {
		return nil
	}
	return addrs
}

// stringList decodes a list of strings, the key field, as addresses does.
func (sd *siteDecoder) stringList(field string, a *hcl.Attribute) []string {
	es := sd.elements(field, a)
	vs := make([]string, 0, len(es))
	rs := make([]hcl.Range, 0, len(es))
	for _, e := range es {
		v, ok := sd.str(e)
		if !ok {
			sd.failed[field] = true
			continue
		}
		rs = append(rs, e.Range())
		vs = append(vs, v)
	}
	sd.lists[field] = rs
	if len(vs) == 0 {
		return nil
	}
	return vs
}

// elements returns the elements of the list attribute a, the key field.
// A missing or unreadable list is failed: HCL reports a required key left
// out, and list reports a value that is not a list.
func (sd *siteDecoder) elements(field string, a *hcl.Attribute) []hcl.Expression {
	if a == nil {
		sd.failed[field] = true
		return nil
	}
	sd.ranges[field] = a.Expr.Range()
	es, ok := sd.list(a)
	if !ok {
		sd.failed[field] = true
	}
	return es
}

// fail reports a problem with field where it is written, and marks it
// failed.
func (sd *siteDecoder) fail(field, summary, format string, args ...any) {
	sd.failed[field] = true
	sd.errorf(sd.rangeOf(field), summary, format, args...)
}

// value decodes attribute a, the key field, into v, recording where it is
// written. It reports whether a was there and decoded; v is left alone
// when not.
func (sd *siteDecoder) value(field string, a *hcl.Attribute, v any) bool {
	if a == nil {
		return false
	}
	sd.ranges[field] = a.Expr.Range()
	if !sd.decode(a.Expr, v) {
		sd.failed[field] = true
		return false
	}
	return true
}

// text is value for a string.
func (sd *siteDecoder) text(field string, a *hcl.Attribute) (string, bool) {
	var s string
	return s, sd.value(field, a, &s)
}

func (sd *siteDecoder) address(field string, rng hcl.Range, v string) (config.Address, bool) {
	a, err := config.ParseAddress(v)
	if err != nil {
		sd.failed[field] = true
		sd.errorf(rng, "Invalid address", "%s", err)
		return a, false
	}
	return a, true
}

// duration decodes a duration string: digits with a unit, not negative.
func (sd *siteDecoder) duration(field string, a *hcl.Attribute, v *time.Duration) {
	s, ok := sd.text(field, a)
	if !ok {
		return
	}
	t, err := time.ParseDuration(s)
	if err != nil || t < 0 {
		sd.fail(field, "Invalid duration", "%s = %q: want a duration with a unit, such as \"30s\", \"10m\" or \"1h30m\".", a.Name, s)
		return
	}
	*v = t
}

// size decodes a size string such as "512MiB" (config.ParseSize).
func (sd *siteDecoder) size(field string, a *hcl.Attribute, v *config.Size) {
	s, ok := sd.text(field, a)
	if !ok {
		return
	}
	n, err := config.ParseSize(s)
	if err != nil {
		sd.fail(field, "Invalid size", "%s: %s", a.Name, err)
		return
	}
	*v = n
}

// cpu decodes a CPU quota, a positive percentage such as "50%" or "200%".
func (sd *siteDecoder) cpu(field string, a *hcl.Attribute, v *int) {
	s, ok := sd.text(field, a)
	if !ok {
		return
	}
	n, err := strconv.Atoi(strings.TrimSuffix(s, "%"))
	if err != nil || n <= 0 || !strings.HasSuffix(s, "%") {
		sd.fail(field, "Invalid CPU limit", "cpu = %q: want a percentage of one CPU, such as \"50%%\" or \"200%%\".", s)
		return
	}
	*v = n
}
