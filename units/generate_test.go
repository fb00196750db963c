package units

import (
	"bytes"
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/zsm-dev/zsm/internal/config"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// samplePath is the config path of the sample: a space, "%" and "$".
const samplePath = "/home/ann/zsm sites/100% $HOME.hcl"

// site returns a site with the defaults the config parser fills in.
func site(name string, listen ...config.Address) *config.Site {
	return &config.Site{
		Name:        name,
		Listen:      listen,
		Mode:        config.Handoff,
		Protocol:    config.HTTP,
		Command:     []string{"./server"},
		Directory:   "/home/ann/sites/" + name,
		Environment: map[string]string{},
		Pool:        config.Pool{MinIdle: 1, Max: 8},
		Timeouts:    config.Timeouts{Start: 30 * time.Second, Stop: 60 * time.Second},
	}
}

func tcp(host string, port int) config.Address {
	return config.Address{Net: config.NetTCP, Host: host, Port: port}
}

func unix(path string) config.Address { return config.Address{Net: config.NetUnix, Path: path} }

// sampleConfig has several sites covering tcp, tcp6, every interface, unix
// paths relative and absolute (with a space and "%"), limits and odd stop
// timeouts, in a config file whose path holds a space, "%" and "$".
func sampleConfig(path string) *config.File {
	blog := site("blog", tcp("127.0.0.1", 8080), unix("blog.sock"))
	blog.Limits = config.Limits{Memory: 1 << 30, CPUPercent: 200}

	api := site("api-v2", tcp("::1", 9090), unix("/run/user/1000/zsm api/50%.sock"))
	api.Timeouts.Stop = 10*time.Second + 500*time.Millisecond
	api.Limits = config.Limits{Memory: 512 << 20}

	shop := site("shop.example_1", tcp("", 8081))
	shop.Timeouts.Stop = 0
	shop.Limits = config.Limits{CPUPercent: 50}

	return &config.File{Path: path, Sites: []*config.Site{blog, api, shop}}
}

func TestGenerateGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    *config.File
		opt  Options
	}{
		{"sample", sampleConfig(samplePath), Options{ZSM: "/usr/local/bin/zsm"}},
		{"odd-binary", &config.File{
			Path:  "/etc/zsm/one.hcl",
			Sites: []*config.Site{site("one", tcp("", 8000))},
		}, Options{ZSM: "/opt/zsm 1.0/100% $dev/zsm"}},
		{"no-sites", &config.File{Path: "/etc/zsm/empty.hcl"}, Options{ZSM: "/usr/bin/zsm"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files, err := Generate(tc.f, tc.opt)
			if err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join("testdata", "golden", tc.name)
			if *update {
				writeGolden(t, dir, files)
			}
			want := readGolden(t, dir)
			got := map[string]string{}
			for _, f := range files {
				got[f.Path] = string(f.Content)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("generated files differ from %s (-want +got; go test ./units -update to accept):\n%s", dir, diff)
			}
		})
	}
}

func writeGolden(t *testing.T, dir string, files []File) {
	t.Helper()
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, f.Content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func readGolden(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		files[filepath.ToSlash(rel)] = string(b)
		return err
	})
	if err != nil {
		t.Fatalf("reading golden files (go test ./units -update writes them): %v", err)
	}
	return files
}

// TestGenerateReadsBack parses the sample's units with the oracle reader
// and checks that systemd would see the values the config holds.
func TestGenerateReadsBack(t *testing.T) {
	const zsm = "/opt/zsm 1.0/100% $dev/zsm"
	f := sampleConfig(samplePath)
	files, err := Generate(f, Options{ZSM: zsm})
	if err != nil {
		t.Fatal(err)
	}
	paths := make([]string, len(files))
	for i, file := range files {
		paths[i] = file.Path
	}
	wantPaths := []string{
		"zsm@.service", "zsm@.socket",
		"zsm@api-v2.service.d/zsmgen.conf", "zsm@api-v2.socket.d/zsmgen.conf",
		"zsm@blog.service.d/zsmgen.conf", "zsm@blog.socket.d/zsmgen.conf",
		"zsm@shop.example_1.service.d/zsmgen.conf", "zsm@shop.example_1.socket.d/zsmgen.conf",
	}
	if diff := cmp.Diff(wantPaths, paths); diff != "" {
		t.Fatalf("paths (-want +got):\n%s", diff)
	}

	// %t as a user manager expands it; %i for the instance.
	specifiers := map[byte]string{'t': "/run/user/1000", 'i': "INSTANCE"}
	got := map[string]map[string][]string{} // path → key → values after unquoting and expansion
	for _, file := range files {
		src, ok := ParseHeader(file.Content)
		wantSrc := samplePath
		if !strings.Contains(file.Path, "/") {
			wantSrc = ""
		}
		if !ok || src != wantSrc {
			t.Errorf("%s: header gives (%q, %v), want (%q, true)", file.Path, src, ok, wantSrc)
		}
		settings, err := parseUnit(file.Content)
		if err != nil {
			t.Fatalf("%s: %v", file.Path, err)
		}
		m := map[string][]string{}
		for _, s := range settings {
			v := s.Value
			switch s.Key {
			case "ListenStream":
				v, err = expandSpecifiers(v, specifiers)
			case "Environment", "ExecStart", "ExecReload":
				var words []string
				words, err = splitWords(v)
				for i := range words {
					if err == nil {
						words[i], err = expandSpecifiers(words[i], specifiers)
					}
					// The program (word 0) is never expanded; its argv[0] copy
					// is, so a program holding "$" must come with "@" and
					// argv[0] as the next word.
					if err == nil && s.Key != "Environment" && i > 0 {
						words[i], err = unescapeDollars(words[i])
					}
				}
				if err == nil && s.Key != "Environment" && !strings.HasPrefix(words[0], "@") && strings.Contains(words[0], "$") {
					err = errors.New("program path with $ but no separate argv[0]")
				}
				v = strings.Join(words, "|")
			}
			if err != nil {
				t.Fatalf("%s: %s=%s: %v", file.Path, s.Key, s.Value, err)
			}
			m[s.Key] = append(m[s.Key], v)
		}
		got[file.Path] = m
	}

	for _, tc := range []struct {
		path, key string
		want      []string
	}{
		// "@" takes argv[0] from the next word, so the program path keeps its
		// "$" and argv[0] is written with "$$".
		{"zsm@.service", "ExecStart", []string{"@" + zsm + "|" + zsm + "|serve|--site|INSTANCE"}},
		{"zsm@.service", "ExecReload", []string{"@" + zsm + "|" + zsm + "|reload|--wait|--site|INSTANCE"}},
		{"zsm@.service", "NotifyAccess", []string{"main"}},
		{"zsm@.service", "KillMode", []string{"mixed"}},
		{"zsm@.socket", "FileDescriptorName", []string{"%i"}},
		{"zsm@blog.socket.d/zsmgen.conf", "ListenStream", []string{"127.0.0.1:8080", "/run/user/1000/blog.sock"}},
		{"zsm@api-v2.socket.d/zsmgen.conf", "ListenStream", []string{"[::1]:9090", "/run/user/1000/zsm api/50%.sock"}},
		{"zsm@shop.example_1.socket.d/zsmgen.conf", "ListenStream", []string{"8081"}},
		{"zsm@blog.service.d/zsmgen.conf", "Environment", []string{"ZSM_CONFIG=" + samplePath}},
		{"zsm@blog.service.d/zsmgen.conf", "TimeoutStopSec", []string{"75s"}},
		{"zsm@blog.service.d/zsmgen.conf", "MemoryMax", []string{"1G"}},
		{"zsm@blog.service.d/zsmgen.conf", "CPUQuota", []string{"200%"}},
		{"zsm@api-v2.service.d/zsmgen.conf", "TimeoutStopSec", []string{"26s"}},
		{"zsm@api-v2.service.d/zsmgen.conf", "MemoryMax", []string{"512M"}},
		{"zsm@api-v2.service.d/zsmgen.conf", "CPUQuota", nil},
		{"zsm@shop.example_1.service.d/zsmgen.conf", "TimeoutStopSec", []string{"15s"}},
		{"zsm@shop.example_1.service.d/zsmgen.conf", "MemoryMax", nil},
		{"zsm@shop.example_1.service.d/zsmgen.conf", "CPUQuota", []string{"50%"}},
	} {
		if diff := cmp.Diff(tc.want, got[tc.path][tc.key]); diff != "" {
			t.Errorf("%s: %s= (-want +got):\n%s", tc.path, tc.key, diff)
		}
	}
	for _, key := range []string{"Install", "WantedBy"} {
		if _, ok := got["zsm@.service"][key]; ok {
			t.Errorf("zsm@.service has %s=; only the socket is enabled", key)
		}
	}
	for _, file := range files {
		if bytes.Contains(file.Content, []byte("%I")) {
			t.Errorf("%s uses %%I, which unescapes the instance; use %%i", file.Path)
		}
	}
}

// TestGenerateActivationLimits checks the settings that keep a site's
// socket from being left failed by any activation rate, crash loop or start
// limit (serviceTemplate, socketTemplate): no start limit on either unit, a
// trigger limit far above any rate of broker starts, every failure
// restarted after a pause, no exit status exempt; and no drop-in that
// overrides them.
func TestGenerateActivationLimits(t *testing.T) {
	files, err := Generate(sampleConfig(samplePath), Options{ZSM: "/usr/bin/zsm"})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{} // "path [Section] Key" → values
	for _, f := range files {
		settings, err := parseUnit(f.Content)
		if err != nil {
			t.Fatalf("%s: %v", f.Path, err)
		}
		for _, s := range settings {
			k := f.Path + " [" + s.Section + "] " + s.Key
			got[k] = append(got[k], s.Value)
			if strings.Contains(f.Path, "/") && (strings.HasPrefix(s.Key, "StartLimit") ||
				strings.HasPrefix(s.Key, "Restart") || strings.HasPrefix(s.Key, "TriggerLimit")) {
				t.Errorf("%s sets %s=%s, overriding the template", f.Path, s.Key, s.Value)
			}
		}
	}
	for _, tc := range []struct {
		path, section, key string
		want               []string
	}{
		{ServiceTemplate, "Unit", "StartLimitIntervalSec", []string{"0"}},
		{ServiceTemplate, "Unit", "StartLimitBurst", nil},
		{ServiceTemplate, "Service", "Restart", []string{"on-failure"}},
		{ServiceTemplate, "Service", "RestartSec", []string{"1s"}},
		{ServiceTemplate, "Service", "RestartPreventExitStatus", nil},
		{SocketTemplate, "Unit", "StartLimitIntervalSec", []string{"0"}},
		{SocketTemplate, "Socket", "TriggerLimitIntervalSec", []string{"1s"}},
		{SocketTemplate, "Socket", "TriggerLimitBurst", []string{"500"}},
	} {
		k := tc.path + " [" + tc.section + "] " + tc.key
		if diff := cmp.Diff(tc.want, got[k]); diff != "" {
			t.Errorf("%s (-want +got):\n%s", k, diff)
		}
	}
}

func TestGenerateDeterministic(t *testing.T) {
	opt := Options{ZSM: "/usr/bin/zsm"}
	a, err := Generate(sampleConfig(samplePath), opt)
	if err != nil {
		t.Fatal(err)
	}
	f := sampleConfig(samplePath)
	slices.Reverse(f.Sites)
	b, err := Generate(f, opt)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(a, b); diff != "" {
		t.Errorf("site order changed the output (-first +second):\n%s", diff)
	}
}

func TestGenerateNewlineInPath(t *testing.T) {
	path := "/home/ann/odd\nname\t.hcl"
	files, err := Generate(&config.File{Path: path, Sites: []*config.Site{site("a", tcp("", 1))}}, Options{ZSM: "/usr/bin/zsm"})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if _, err := parseUnit(f.Content); err != nil {
			t.Errorf("%s: %v\n%s", f.Path, err, f.Content)
		}
		if src, ok := ParseHeader(f.Content); ok && src != "" && src != path {
			t.Errorf("%s: header source %q, want %q", f.Path, src, path)
		}
	}
}

// TestGenerateLongestName generates units, and an rc script, for a site
// name of config.MaxNameLength characters, the longest the config allows.
func TestGenerateLongestName(t *testing.T) {
	name := strings.Repeat("n", config.MaxNameLength)
	f := &config.File{Path: "/etc/zsm/a.hcl", Sites: []*config.Site{site(name, tcp("", 80))}}
	files, err := Generate(f, Options{ZSM: "/usr/bin/zsm"})
	if err != nil {
		t.Fatal(err)
	}
	want := "zsm@" + name + ".service.d/" + DropIn
	if !slices.ContainsFunc(files, func(f File) bool { return f.Path == want }) {
		t.Errorf("no %s among the generated files", want)
	}
	if _, err := RC(f.Sites[0], SysvOptions{ZSM: "/usr/bin/zsm", Config: f.Path, User: "ann", UID: 1000}); err != nil {
		t.Errorf("RC: %v", err)
	}
}

func TestGenerateErrors(t *testing.T) {
	ok := func() *config.File {
		return &config.File{Path: "/etc/zsm/a.hcl", Sites: []*config.Site{site("a", tcp("", 80))}}
	}
	with := func(edit func(f *config.File)) *config.File {
		f := ok()
		edit(f)
		return f
	}
	for _, tc := range []struct {
		name    string
		f       *config.File
		zsm     string
		wantErr string
	}{
		{"nil config", nil, "/usr/bin/zsm", "no config"},
		{"relative config path", with(func(f *config.File) { f.Path = "a.hcl" }), "/usr/bin/zsm", "not absolute"},
		{"relative zsm", ok(), "zsm", "not an absolute path"},
		{"zsm directory", ok(), "/usr/bin/", "names a directory"},
		{"zsm with quote", ok(), `/opt/"zsm"/zsm`, "quote"},
		{"zsm with backslash", ok(), `/opt/z\sm`, "backslash"},
		{"zsm with newline", ok(), "/opt/z\nsm", "control character"},
		{"config path with NUL", with(func(f *config.File) { f.Path = "/a\x00.hcl" }), "/usr/bin/zsm", "NUL"},
		{"config path with control character", with(func(f *config.File) { f.Path = "/a\x01.hcl" }), "/usr/bin/zsm", "control character"},
		{"config path not UTF-8", with(func(f *config.File) { f.Path = "/a\xff.hcl" }), "/usr/bin/zsm", "UTF-8"},
		{"empty site name", with(func(f *config.File) { f.Sites[0].Name = "" }), "/usr/bin/zsm", "site name is empty"},
		{"site name with slash", with(func(f *config.File) { f.Sites[0].Name = "a/b" }), "/usr/bin/zsm", `Site name "a/b" cannot become a unit name`},
		{"site name starting with dash", with(func(f *config.File) { f.Sites[0].Name = "-a" }), "/usr/bin/zsm", "cannot become a unit name"},
		{"site name too long", with(func(f *config.File) { f.Sites[0].Name = strings.Repeat("a", config.MaxNameLength+1) }), "/usr/bin/zsm", "longer than 64"},
		{"duplicate site", with(func(f *config.File) { f.Sites = append(f.Sites, site("a", tcp("", 81))) }), "/usr/bin/zsm", "defined twice"},
		{"nil site", with(func(f *config.File) { f.Sites = append(f.Sites, nil) }), "/usr/bin/zsm", "nil site"},
		{"no listen", with(func(f *config.File) { f.Sites[0].Listen = nil }), "/usr/bin/zsm", "no listen address"},
		{"port zero", with(func(f *config.File) { f.Sites[0].Listen[0].Port = 0 }), "/usr/bin/zsm", "out of range"},
		{"zone on IPv4", with(func(f *config.File) { f.Sites[0].Listen[0].Host = "127.0.0.1%lo" }), "/usr/bin/zsm", "zone needs an IPv6"},
		{"unknown network", with(func(f *config.File) { f.Sites[0].Listen[0].Net = "udp" }), "/usr/bin/zsm", `unknown network "udp"`},
		{"empty unix path", with(func(f *config.File) { f.Sites[0].Listen[0] = unix("") }), "/usr/bin/zsm", "empty socket path"},
		{"unix path too long", with(func(f *config.File) { f.Sites[0].Listen[0] = unix("/" + strings.Repeat("s", 107)) }), "/usr/bin/zsm", "longer than 107"},
		{"unix path with trailing space", with(func(f *config.File) { f.Sites[0].Listen[0] = unix("a.sock ") }), "/usr/bin/zsm", "whitespace"},
		{"unix path with trailing backslash", with(func(f *config.File) { f.Sites[0].Listen[0] = unix(`a\`) }), "/usr/bin/zsm", "backslash"},
		{"unix path with newline", with(func(f *config.File) { f.Sites[0].Listen[0] = unix("a\nb") }), "/usr/bin/zsm", "control character"},
		{"negative stop", with(func(f *config.File) { f.Sites[0].Timeouts.Stop = -1 }), "/usr/bin/zsm", "negative stop timeout"},
		{"negative memory", with(func(f *config.File) { f.Sites[0].Limits.Memory = -1 }), "/usr/bin/zsm", "negative memory limit"},
		{"negative cpu", with(func(f *config.File) { f.Sites[0].Limits.CPUPercent = -1 }), "/usr/bin/zsm", "negative CPU limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files, err := Generate(tc.f, Options{ZSM: tc.zsm})
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Generate = %d files, error %v; want an error containing %q", len(files), err, tc.wantErr)
			}
			if !strings.HasPrefix(err.Error(), "units: generate: ") {
				t.Errorf("error %q lacks the package and op prefix", err)
			}
		})
	}
}

func TestListenStream(t *testing.T) {
	for _, tc := range []struct {
		name string
		addr config.Address
		want string
	}{
		{"tcp4", tcp("127.0.0.1", 8080), "127.0.0.1:8080"},
		{"tcp6", tcp("::1", 8080), "[::1]:8080"},
		{"every interface", tcp("", 8080), "8080"},
		{"tcp6 any", tcp("::", 443), "[::]:443"},
		{"tcp6 with zone", tcp("fe80::1%eth0", 80), "[fe80::1]:80%%eth0"},
		{"unix relative", unix("blog.sock"), "%t/blog.sock"},
		{"unix relative in a directory", unix("zsm/blog.sock"), "%t/zsm/blog.sock"},
		{"unix relative with percent", unix("100%.sock"), "%t/100%%.sock"},
		{"unix absolute", unix("/srv/blog.sock"), "/srv/blog.sock"},
		{"unix absolute with space and specials", unix(`/srv/my sites/"a" $b 5%.sock`), `/srv/my sites/"a" $b 5%%.sock`},
		{"unix absolute at the length limit", unix("/" + strings.Repeat("s", 106)), "/" + strings.Repeat("s", 106)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := listenStream(tc.addr)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("listenStream(%v) = %q, want %q", tc.addr, got, tc.want)
			}
		})
	}
}

// A proxy site's instances drain before their stop signal: systemd's stop
// timeout covers the drain as well as the stop timeout.
func TestStopTimeoutCoversDrain(t *testing.T) {
	s := site("px", tcp("127.0.0.1", 8080))
	s.Mode = config.Proxy
	s.Timeouts.Drain = 20 * time.Second
	b, err := serviceDropIn("", samplePath, s)
	if err != nil {
		t.Fatal(err)
	}
	if want := "TimeoutStopSec=95s\n"; !strings.Contains(string(b), want) {
		t.Errorf("drop-in:\n%s\nwant %s", b, want)
	}
}
