package test

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"

	"github.com/zsm-dev/zsm/test/systemdtest"
)

// examplesDir holds the example sites, relative to this package.
const examplesDir = "../contrib/examples"

// exampleAnswers is what the first request to each example site gets: the
// whole body, or (contains) a part of it. Every example needs an entry.
var exampleAnswers = map[string]struct {
	body     string
	contains bool
}{
	"hello.hcl":          {body: "hello\n"},
	"python-handoff.hcl": {body: "hello from python\n"},
	"listen.hcl":         {body: "hello\n"},
	// python3 -m http.server lists its directory, the example's.
	"proxy.hcl": {body: "Directory listing for /", contains: true},
}

// examples returns the paths of contrib/examples/*.hcl.
func examples(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(examplesDir, "*.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no examples in %s", examplesDir)
	}
	return files
}

// exampleSite is what a test needs to know of one site block.
type exampleSite struct {
	block   *hclwrite.Block
	name    string
	mode    string
	listen  []string
	backend []int // backend ports (proxy mode)
}

// parseExample reads the site blocks of an example with hclwrite, so that
// they can be rewritten with the file's comments and layout kept.
func parseExample(t *testing.T, path string, src []byte) (*hclwrite.File, []exampleSite) {
	t.Helper()
	f, diags := hclwrite.ParseConfig(src, path, hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatalf("%s: %v", path, diags)
	}
	var sites []exampleSite
	for _, b := range f.Body().Blocks() {
		if b.Type() != "site" || len(b.Labels()) != 1 {
			continue
		}
		s := exampleSite{block: b, name: b.Labels()[0], mode: "handoff"}
		body := b.Body()
		for _, v := range value(t, path, body.GetAttribute("listen")).AsValueSlice() {
			s.listen = append(s.listen, v.AsString())
		}
		if a := body.GetAttribute("mode"); a != nil {
			s.mode = value(t, path, a).AsString()
		}
		if be := body.FirstMatchingBlock("backend", nil); be != nil {
			ports, err := parsePortList(value(t, path, be.Body().GetAttribute("ports")).AsString())
			if err != nil {
				t.Fatalf("%s: site %s: %v", path, s.name, err)
			}
			s.backend = ports
		}
		sites = append(sites, s)
	}
	if len(sites) == 0 {
		t.Fatalf("%s has no site block", path)
	}
	return f, sites
}

// value evaluates an attribute holding a literal.
func value(t *testing.T, path string, a *hclwrite.Attribute) cty.Value {
	t.Helper()
	if a == nil {
		t.Fatalf("%s: a site lacks an attribute the test needs", path)
	}
	src := a.Expr().BuildTokens(nil).Bytes()
	e, diags := hclsyntax.ParseExpression(src, path, hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatalf("%s: %q: %v", path, src, diags)
	}
	v, diags := e.Value(nil)
	if diags.HasErrors() {
		t.Fatalf("%s: %q: %v", path, src, diags)
	}
	return v
}

// parsePortList reads a backend's ports: "9001", "9001-9004", "9001,9003-9004".
func parsePortList(s string) ([]int, error) {
	var ports []int
	for part := range strings.SplitSeq(s, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			return nil, fmt.Errorf("ports %q: %v", s, err)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil {
				return nil, fmt.Errorf("ports %q: %v", s, err)
			}
		}
		for p := a; p <= b; p++ {
			ports = append(ports, p)
		}
	}
	return ports, nil
}

// tcpPorts returns the TCP ports a site uses: its listen ports and its
// backend's.
func tcpPorts(t *testing.T, path string, s exampleSite) []int {
	t.Helper()
	var ports []int
	for _, a := range s.listen {
		if strings.HasPrefix(a, "unix:") {
			continue
		}
		_, p, err := net.SplitHostPort(a)
		if err != nil {
			t.Fatalf("%s: site %s: listen %q: %v", path, s.name, a, err)
		}
		n, err := strconv.Atoi(p)
		if err != nil {
			t.Fatalf("%s: site %s: listen %q: %v", path, s.name, a, err)
		}
		ports = append(ports, n)
	}
	return append(ports, s.backend...)
}

// TestExamplesCheck: every example passes `zsmgen check`, there is one for
// each mode, each starts with a comment, and together they pass it too (no
// two share a site name or an address) and use different backend ports, so
// that a user can enable them all at once.
func TestExamplesCheck(t *testing.T) {
	bin := systemdtest.BuildBinaries(t)
	var all strings.Builder
	modes := map[string]bool{}
	portUser := map[int]string{}
	for _, path := range examples(t) {
		base := filepath.Base(path)
		out := zsmgen(t, bin, "check", path)
		if !regexp.MustCompile(`: \d+ sites? ok: `).MatchString(out) {
			t.Errorf("zsmgen check %s: %q; want \"N site(s) ok: ...\"", base, out)
		}
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(src), "#") {
			t.Errorf("%s does not start with a comment saying what it shows", base)
		}
		if _, ok := exampleAnswers[base]; !ok {
			t.Errorf("%s has no entry in exampleAnswers: TestExamplesEnabled would not know what it answers", base)
		}
		_, sites := parseExample(t, path, src)
		for _, s := range sites {
			modes[s.mode] = true
			for _, p := range tcpPorts(t, path, s) {
				if other, ok := portUser[p]; ok {
					t.Errorf("port %d is used by %s and by %s (site %s)", p, other, base, s.name)
				}
				portUser[p] = fmt.Sprintf("%s (site %s)", base, s.name)
			}
		}
		fmt.Fprintf(&all, "# from %s\n%s\n", base, src)
	}
	for _, m := range []string{"handoff", "listen", "proxy"} {
		if !modes[m] {
			t.Errorf("no example of mode %q", m)
		}
	}
	combined := filepath.Join(t.TempDir(), "all-examples.hcl")
	writeFile(t, combined, all.String())
	zsmgen(t, bin, "check", combined)
}

// exampleTree returns a directory laid out like the repository as far as
// the examples' relative paths can see: contrib/examples/ (empty, for the
// rewritten copies), every other entry of the repository and of contrib/
// as a symlink to the real one, and bin/ with this test run's builds of what
// `make build` puts there. The copies thus run the code under test, never a
// stale bin/ of the working tree, and nothing is written into the repository.
func exampleTree(t *testing.T, bin string) string {
	t.Helper()
	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	link := func(from, to string, skip ...string) {
		ents, err := os.ReadDir(from)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			if slices.Contains(skip, e.Name()) {
				continue
			}
			if err := os.Symlink(filepath.Join(from, e.Name()), filepath.Join(to, e.Name())); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, d := range []string{"contrib/examples", "bin"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	link(repo, root, "contrib", "bin", ".git")
	link(filepath.Join(repo, "contrib"), filepath.Join(root, "contrib"), "examples")
	for name, target := range map[string]string{
		"zsm":    filepath.Join(bin, "zsm"),
		"zsmgen": filepath.Join(bin, "zsmgen"),
		"hello":  helloWorker(t, bin),
	} {
		if err := os.Symlink(target, filepath.Join(root, "bin", name)); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// rewriteExample renames each site to a unique name and moves it to free
// ports and unique unix socket names, so that the examples run beside
// anything else on the host and in the harness.
func rewriteExample(t *testing.T, path string, src []byte) ([]byte, []exampleSite) {
	t.Helper()
	f, sites := parseExample(t, path, src)
	for i := range sites {
		s := &sites[i]
		s.name = uniqueName(t, s.name)
		s.block.SetLabels([]string{s.name})
		var listen []cty.Value
		for j, a := range s.listen {
			if strings.HasPrefix(a, "unix:") {
				a = "unix:" + uniqueName(t, "example") + ".sock"
			} else {
				host, _, err := net.SplitHostPort(a)
				if err != nil {
					t.Fatalf("%s: listen %q: %v", path, a, err)
				}
				a = net.JoinHostPort(host, strconv.Itoa(freePort(t)))
			}
			s.listen[j] = a
			listen = append(listen, cty.StringVal(a))
		}
		s.block.Body().SetAttributeValue("listen", cty.ListVal(listen))
		if len(s.backend) > 0 {
			var ports []string
			for _, p := range freePorts(t, len(s.backend)) {
				ports = append(ports, strconv.Itoa(p))
			}
			be := s.block.Body().FirstMatchingBlock("backend", nil)
			be.Body().SetAttributeValue("ports", cty.StringVal(strings.Join(ports, ",")))
		}
	}
	return f.Bytes(), sites
}

// TestExamplesEnabled: each example, enabled through the real user manager
// as a user would (zsmgen units for each file into one unit directory,
// daemon-reload, enable --now, all at once), answers its first request on
// every address. Each runs from a copy moved to free ports, in a tree where
// its relative paths resolve as in the repository (see exampleTree).
func TestExamplesEnabled(t *testing.T) {
	systemdtest.Require(t)
	bin := systemdtest.BuildBinaries(t)
	systemdtest.UnitDir(t)
	root := exampleTree(t, bin)

	type example struct {
		base  string
		sites []exampleSite
	}
	var (
		exs   []example
		cfgs  []string
		names []string
	)
	for _, path := range examples(t) {
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		out, sites := rewriteExample(t, path, src)
		cfg := filepath.Join(root, "contrib", "examples", filepath.Base(path))
		writeFile(t, cfg, string(out))
		zsmgen(t, bin, "check", cfg)
		cfgs = append(cfgs, cfg)
		for _, s := range sites {
			names = append(names, s.name)
		}
		exs = append(exs, example{base: filepath.Base(path), sites: sites})
	}
	enableSites(t, cfgs, names...)

	runtimeDir := os.Getenv("XDG_RUNTIME_DIR")
	for _, ex := range exs {
		t.Run(ex.base, func(t *testing.T) {
			want, ok := exampleAnswers[ex.base]
			if !ok {
				t.Fatalf("no expected answer for %s in exampleAnswers", ex.base)
			}
			for _, s := range ex.sites {
				if st := unitState(t, "zsm@"+s.name+".service"); st != "inactive" {
					t.Errorf("site %s: broker is %s before any connection; want inactive", s.name, st)
				}
				for _, a := range s.listen {
					network, addr := "tcp", a
					if p, ok := strings.CutPrefix(a, "unix:"); ok {
						network, addr = "unix", filepath.Join(runtimeDir, p)
					} else if host, port, _ := net.SplitHostPort(a); host == "" {
						addr = net.JoinHostPort("127.0.0.1", port)
					}
					code, body, err := get(network, addr)
					good := body == want.body || want.contains && strings.Contains(body, want.body)
					if err != nil || code != 200 || !good {
						t.Errorf("site %s, GET over %s %s: %d %q %v; want 200 with %q", s.name, network, addr, code, body, err, want.body)
					}
				}
			}
		})
	}
}
