package units

import (
	"errors"
	"maps"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/zsm-dev/zsm/internal/config"
)

const (
	source = "/home/ann/sites.hcl"
	other  = "/home/ann/other.hcl"
)

// generate returns Generate's output for sites in a config file at path.
func generate(t *testing.T, path string, sites ...*config.Site) []File {
	t.Helper()
	files, err := Generate(&config.File{Path: path, Sites: sites}, Options{ZSM: "/usr/bin/zsm"})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// dir turns files into what a caller reads from the unit directory.
func dir(files ...[]File) map[string][]byte {
	m := map[string][]byte{}
	for _, fs := range files {
		for _, f := range fs {
			m[f.Path] = f.Content
		}
	}
	return m
}

// with returns m with extra files added.
func with(m map[string][]byte, extra map[string]string) map[string][]byte {
	out := make(map[string][]byte, len(m)+len(extra))
	maps.Copy(out, m)
	for p, c := range extra {
		out[p] = []byte(c)
	}
	return out
}

// dropIns keeps the files of files that are not templates.
func dropIns(files []File) []File {
	var out []File
	for _, f := range files {
		if strings.Contains(f.Path, "/") {
			out = append(out, f)
		}
	}
	return out
}

// planResult is Changes with paths only, to compare.
type planResult struct {
	Write, Unchanged, Remove []string
}

func TestPlan(t *testing.T) {
	blog := func() *config.Site { return site("blog", tcp("127.0.0.1", 8080)) }
	api := func() *config.Site { return site("api", unix("api.sock")) }
	blog9000 := blog()
	blog9000.Listen[0].Port = 9000

	first := generate(t, source, blog(), api())
	templates := []string{"zsm@.service", "zsm@.socket"}
	all := append(templates,
		"zsm@api.service.d/zsmgen.conf", "zsm@api.socket.d/zsmgen.conf",
		"zsm@blog.service.d/zsmgen.conf", "zsm@blog.socket.d/zsmgen.conf")
	foreign := map[string]string{
		"zsm@blog.service.d/override.conf": "[Service]\nEnvironment=DEBUG=1\n",
		"zsm@hand.socket":                  "[Socket]\nListenStream=9999\n",
		"zsm@hand.socket.d/zsmgen.conf":    "[Socket]\nListenStream=9998\n",
	}
	otherSite := generate(t, other, site("wiki", tcp("", 8088)))

	for _, tc := range []struct {
		name     string
		desired  []File
		existing map[string][]byte
		source   string
		want     planResult
		wantIs   error  // errors.Is target, when an error is expected
		wantErr  string // and a substring of it
	}{
		{
			name:    "new",
			desired: first,
			want:    planResult{Write: all},
		},
		{
			name:     "idempotent second run",
			desired:  first,
			existing: dir(first),
			want:     planResult{Unchanged: all},
		},
		{
			name:     "changed site",
			desired:  generate(t, source, blog9000, api()),
			existing: dir(first),
			want: planResult{
				Write:     []string{"zsm@blog.socket.d/zsmgen.conf"},
				Unchanged: []string{"zsm@.service", "zsm@.socket", "zsm@api.service.d/zsmgen.conf", "zsm@api.socket.d/zsmgen.conf", "zsm@blog.service.d/zsmgen.conf"},
			},
		},
		{
			name:     "new zsm binary rewrites the service template",
			desired:  mustGenerate(t, &config.File{Path: source, Sites: []*config.Site{blog(), api()}}, Options{ZSM: "/opt/zsm/bin/zsm"}),
			existing: dir(first),
			want: planResult{
				Write:     []string{"zsm@.service"},
				Unchanged: all[1:],
			},
		},
		{
			name:     "site removed",
			desired:  generate(t, source, blog()),
			existing: dir(first),
			want: planResult{
				Unchanged: []string{"zsm@.service", "zsm@.socket", "zsm@blog.service.d/zsmgen.conf", "zsm@blog.socket.d/zsmgen.conf"},
				Remove:    []string{"zsm@api.service.d/zsmgen.conf", "zsm@api.socket.d/zsmgen.conf"},
			},
		},
		{
			name:     "every site removed keeps the templates",
			desired:  generate(t, source),
			existing: dir(first),
			want: planResult{
				Unchanged: templates,
				Remove:    []string{"zsm@api.service.d/zsmgen.conf", "zsm@api.socket.d/zsmgen.conf", "zsm@blog.service.d/zsmgen.conf", "zsm@blog.socket.d/zsmgen.conf"},
			},
		},
		{
			name:     "templates missing from desired are not removed",
			desired:  dropIns(first),
			existing: dir(first),
			want:     planResult{Unchanged: all[2:]},
		},
		{
			name:    "renamed drop-in from the same source is removed",
			desired: first,
			existing: with(dir(first), map[string]string{
				"zsm@blog.socket.d/10-zsmgen.conf": "# " + sourceHeader(source) + "\n[Socket]\nListenStream=1\n",
			}),
			want: planResult{Unchanged: all, Remove: []string{"zsm@blog.socket.d/10-zsmgen.conf"}},
		},
		{
			name:     "foreign files untouched",
			desired:  generate(t, source, blog()),
			existing: with(dir(first), foreign),
			want: planResult{
				Unchanged: []string{"zsm@.service", "zsm@.socket", "zsm@blog.service.d/zsmgen.conf", "zsm@blog.socket.d/zsmgen.conf"},
				Remove:    []string{"zsm@api.service.d/zsmgen.conf", "zsm@api.socket.d/zsmgen.conf"},
			},
		},
		{
			name:     "other source's drop-ins untouched",
			desired:  generate(t, source, blog()),
			existing: dir(first, otherSite),
			want: planResult{
				Unchanged: []string{"zsm@.service", "zsm@.socket", "zsm@blog.service.d/zsmgen.conf", "zsm@blog.socket.d/zsmgen.conf"},
				Remove:    []string{"zsm@api.service.d/zsmgen.conf", "zsm@api.socket.d/zsmgen.conf"},
			},
		},
		{
			name:    "zsmgen header outside a drop-in directory is not removed",
			desired: first,
			existing: with(dir(first), map[string]string{
				"zsm@blog.socket":           "# " + sourceHeader(source) + "\n",
				"zsm@blog.socket.d/x/y":     "# " + sourceHeader(source) + "\n",
				"zsm@.socket.d/zsmgen.conf": "# " + sourceHeader(source) + "\n",
			}),
			want: planResult{Unchanged: all},
		},
		{
			name:     "collision with a foreign drop-in",
			desired:  first,
			existing: with(nil, map[string]string{"zsm@blog.socket.d/zsmgen.conf": "[Socket]\nListenStream=1\n"}),
			wantIs:   ErrForeign,
			wantErr:  "zsm@blog.socket.d/zsmgen.conf: units: file exists and was not generated by zsmgen",
		},
		{
			name:     "collision with a hand-written template",
			desired:  first,
			existing: with(nil, map[string]string{"zsm@.service": "[Service]\nExecStart=/bin/mine\n"}),
			wantIs:   ErrForeign,
			wantErr:  "zsm@.service:",
		},
		{
			name:    "collision with a malformed header",
			desired: first,
			existing: with(nil, map[string]string{
				"zsm@blog.socket.d/zsmgen.conf": "# Generated by zsmgen from /unquoted/path.hcl.\n",
			}),
			wantIs:  ErrForeign,
			wantErr: "zsm@blog.socket.d/zsmgen.conf:",
		},
		{
			name:     "collision with another source's site",
			desired:  generate(t, source, site("wiki", tcp("", 8089))),
			existing: dir(otherSite),
			wantIs:   ErrOtherSource,
			wantErr:  "zsm@wiki.service.d/zsmgen.conf: units: file was generated from another config file (/home/ann/other.hcl)",
		},
		{
			name:    "relative source",
			desired: first,
			source:  "sites.hcl",
			wantErr: `config path "sites.hcl" is not absolute`,
		},
		{
			name:    "desired file without header",
			desired: []File{{Path: "zsm@.socket", Content: []byte("[Socket]\n")}},
			wantErr: "does not carry zsmgen's header",
		},
		{
			name:    "desired file from another source",
			desired: otherSite,
			wantErr: "does not carry zsmgen's header for " + source,
		},
		{
			name:    "desired path escapes the unit directory",
			desired: []File{{Path: "../zsm@.socket", Content: []byte("# " + templateHeader + "\n")}},
			wantErr: "not a clean relative path",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := tc.source
			if src == "" {
				src = source
			}
			existing := maps.Clone(tc.existing)
			c, err := Plan(tc.desired, tc.existing, src)
			if !maps.EqualFunc(existing, tc.existing, func(a, b []byte) bool { return string(a) == string(b) }) {
				t.Error("Plan modified existing")
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
					t.Fatalf("Plan error = %v; want one containing %q (is %v)", err, tc.wantErr, tc.wantIs)
				}
				if !c.Empty() || len(c.Unchanged) > 0 {
					t.Errorf("Plan returned changes with an error: %+v", c)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := planResult{Unchanged: c.Unchanged, Remove: c.Remove}
			byPath := dir(tc.desired)
			for _, f := range c.Write {
				got.Write = append(got.Write, f.Path)
				if string(f.Content) != string(byPath[f.Path]) {
					t.Errorf("Write %s: content is not the desired one", f.Path)
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Plan (-want +got):\n%s", diff)
			}
			for _, p := range c.Remove {
				if _, ok := foreign[p]; ok {
					t.Errorf("Plan removes foreign file %s", p)
				}
			}
			if c.Empty() != (len(tc.want.Write) == 0 && len(tc.want.Remove) == 0) {
				t.Errorf("Empty() = %v", c.Empty())
			}
		})
	}
}

// TestPlanConverges applies each plan to a map standing for the unit
// directory and checks that planning again gives nothing to do.
func TestPlanConverges(t *testing.T) {
	unitDir := map[string][]byte{"zsm@blog.service.d/override.conf": []byte("[Service]\n")}
	configs := [][]*config.Site{
		{site("blog", tcp("", 8080)), site("api", tcp("", 8081))},
		{site("blog", tcp("", 9090))},
		{},
		{site("api", unix("api.sock"))},
	}
	for i, sites := range configs {
		desired := generate(t, source, sites...)
		c, err := Plan(desired, unitDir, source)
		if err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		for _, f := range c.Write {
			unitDir[f.Path] = f.Content
		}
		for _, p := range c.Remove {
			delete(unitDir, p)
		}
		again, err := Plan(desired, unitDir, source)
		if err != nil {
			t.Fatalf("run %d again: %v", i, err)
		}
		if !again.Empty() || len(again.Unchanged) != len(desired) {
			t.Errorf("run %d: second plan is not empty: %+v", i, again)
		}
	}
	if _, ok := unitDir["zsm@blog.service.d/override.conf"]; !ok {
		t.Error("the user's override.conf was removed")
	}
}

func mustGenerate(t *testing.T, f *config.File, opt Options) []File {
	t.Helper()
	files, err := Generate(f, opt)
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestParseHeader(t *testing.T) {
	for _, tc := range []struct {
		name       string
		content    string
		wantSource string
		wantOK     bool
	}{
		{"drop-in", "# " + sourceHeader("/a/b.hcl") + "\n[Service]\n", "/a/b.hcl", true},
		{"template", "# " + templateHeader + "\n[Unit]\n", "", true},
		{"odd path", "# " + sourceHeader("/a \"b\"\n\\c%$.hcl") + "\n", "/a \"b\"\n\\c%$.hcl", true},
		{"path with a dot and space", "# " + sourceHeader("/a. Do not/x.hcl") + "\n", "/a. Do not/x.hcl", true},
		{"no final newline", "# " + sourceHeader("/a.hcl"), "/a.hcl", true},
		{"CRLF", "# " + sourceHeader("/a.hcl") + "\r\n", "/a.hcl", true},
		{"empty", "", "", false},
		{"no header", "[Unit]\nDescription=mine\n", "", false},
		{"header on the second line", "\n# " + sourceHeader("/a.hcl") + "\n", "", false},
		{"unquoted path", "# Generated by zsmgen from /a.hcl. Do not edit.\n", "", false},
		{"unterminated quote", "# Generated by zsmgen from \"/a.hcl\n", "", false},
		{"relative path", "# " + sourceHeader("a.hcl") + "\n", "", false},
		{"nothing after the quote", "# Generated by zsmgen from \"/a.hcl\"\n", "", false},
		{"raw string", "# Generated by zsmgen from `/a.hcl`.\n", "", false},
		{"other generator", "# Generated by zsmgenerator from \"/a.hcl\".\n", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, ok := ParseHeader([]byte(tc.content))
			if src != tc.wantSource || ok != tc.wantOK {
				t.Errorf("ParseHeader(%q) = (%q, %v), want (%q, %v)", tc.content, src, ok, tc.wantSource, tc.wantOK)
			}
		})
	}
}
