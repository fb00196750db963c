package units

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/zsm-dev/zsm/internal/config"
)

// sysvPath is the config path of the sysv fixture: a space, a quote and a
// "$" (no "%", which a crontab cannot carry).
const sysvPath = "/srv/a b/it's $X.hcl"

// sysvConfig has two sites with different stop timeouts.
func sysvConfig(path string) *config.File {
	blog := site("blog", tcp("127.0.0.1", 8080), unix("blog.sock"))
	api := site("api-v2", tcp("::1", 9090))
	api.Timeouts.Stop = 10*time.Second + 500*time.Millisecond
	return &config.File{Path: path, Sites: []*config.Site{blog, api}}
}

var sysvAnn = SysvOptions{ZSM: "/opt/zsm 1/zsm", User: "ann", UID: 1000}

// sysvGolden is every generated file of the fixture, by golden file name.
func sysvGolden(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	add := func(name string, b []byte, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out[name] = string(b)
	}
	f := sysvConfig(sysvPath)
	root := SysvOptions{ZSM: sysvAnn.ZSM, User: "root", UID: 0}
	b, err := Inittab(f, root)
	add("inittab-root", b, err)
	// runuser's line is longer: shorter paths, and a pid file directory.
	b, err = Inittab(sysvConfig("/srv/a b.hcl"), SysvOptions{ZSM: "/usr/bin/zsm", User: "ann", UID: 1000, PidfileDir: "/run/zsm", Runlevels: "345"})
	add("inittab-user", b, err)
	b, err = Crontab(f, sysvAnn)
	add("crontab", b, err)
	b, err = Crontab(f, SysvOptions{ZSM: "/usr/bin/zsm", UID: 1000, Site: "blog"})
	add("crontab-blog", b, err)
	rc := sysvAnn
	rc.Config = sysvPath
	for _, s := range f.Sites {
		b, err := RC(s, rc)
		add("rc/"+RCName(s.Name), b, err)
	}
	return out
}

func TestSysvGolden(t *testing.T) {
	got := sysvGolden(t)
	dir := filepath.Join("testdata", "sysv")
	if *update {
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		for name, content := range got {
			p := filepath.Join(dir, filepath.FromSlash(name))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	want := readGolden(t, dir)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("generated files differ from %s (-want +got; go test ./units -update to accept):\n%s", dir, diff)
	}
}

func TestSysvDeterministic(t *testing.T) {
	a := sysvGolden(t)
	f := sysvConfig(sysvPath)
	slices.Reverse(f.Sites)
	b, err := Inittab(f, SysvOptions{ZSM: sysvAnn.ZSM, User: "root"})
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != a["inittab-root"] {
		t.Errorf("site order changed the inittab:\n%s", b)
	}
	b, err = Crontab(f, sysvAnn)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != a["crontab"] {
		t.Errorf("site order changed the crontab:\n%s", b)
	}
}

func TestPidFile(t *testing.T) {
	for _, tc := range []struct {
		opt  SysvOptions
		want string
	}{
		{SysvOptions{UID: 1000}, "/tmp/zsm-1000/blog.pid"},
		{SysvOptions{UID: 0}, "/tmp/zsm-0/blog.pid"},
		{SysvOptions{UID: 1000, PidfileDir: "/run/zsm/"}, "/run/zsm/blog.pid"},
	} {
		if got := tc.opt.PidFile("blog"); got != tc.want {
			t.Errorf("%+v.PidFile(blog) = %q, want %q", tc.opt, got, tc.want)
		}
	}
}

// TestInittabIDs checks that ids are stable (they are written into
// /etc/inittab and must not move between runs), unique, four characters
// of what sysvinit accepts, and that a collision goes to the name sorted
// second.
func TestInittabIDs(t *testing.T) {
	// Known values: a change here changes every user's /etc/inittab.
	ids := inittabIDs([]string{"blog", "api-v2", "shop.example_1"})
	if diff := cmp.Diff(map[string]string{"blog": "z1gx", "api-v2": "zc8u", "shop.example_1": "z35d"}, ids); diff != "" {
		t.Errorf("ids moved (-want +got):\n%s", diff)
	}

	var names []string
	for i := range 3000 {
		names = append(names, fmt.Sprintf("site-%d", i))
	}
	ids = inittabIDs(names)
	seen := map[string]string{}
	for _, n := range names {
		id := ids[n]
		if len(id) != 4 || id[0] != 'z' || strings.Trim(id, "0123456789abcdefghijklmnopqrstuvwxyz") != "" {
			t.Fatalf("id %q of %s is not z and three base-36 digits", id, n)
		}
		if other, ok := seen[id]; ok {
			t.Fatalf("%s and %s share id %s", n, other, id)
		}
		seen[id] = n
	}
	slices.Reverse(names)
	if diff := cmp.Diff(ids, inittabIDs(names)); diff != "" {
		t.Errorf("the order of the names changed the ids:\n%s", diff)
	}

	// Find two names whose hashes collide: 3000 names in 46656 ids make
	// that all but certain.
	first := map[string]string{}
	var a, b string
	for _, n := range names {
		id := inittabIDs([]string{n})[n]
		if o, ok := first[id]; ok {
			a, b = min(o, n), max(o, n)
			break
		}
		first[id] = n
	}
	if a == "" {
		t.Fatal("no colliding names found")
	}
	alone := inittabIDs([]string{a})[a]
	both := inittabIDs([]string{b, a})
	n, _ := strconv.ParseUint(alone[1:], 36, 32)
	next := strconv.FormatUint((n+1)%idSpace, 36)
	next = "z" + strings.Repeat("0", 3-len(next)) + next
	if both[a] != alone || both[b] != next {
		t.Errorf("%s and %s collide on %s: got %v, want %s for %s and %s for %s", a, b, alone, both, alone, a, next, b)
	}
}

// initLine is one parsed inittab entry.
type initLine struct{ id, levels, action, process string }

// parseInittab reads entries as sysvinit's read_inittab does and applies
// its checks.
func parseInittab(t *testing.T, content string) []initLine {
	t.Helper()
	var out []initLine
	if !strings.HasSuffix(content, "\n") {
		t.Fatal("no final newline")
	}
	for _, line := range strings.Split(strings.TrimSuffix(content, "\n"), "\n") {
		if len(line)+1 > 255 {
			t.Errorf("line longer than init's 256-byte buffer: %q", line)
		}
		if trimmed := strings.TrimLeft(line, " \t"); trimmed == "" || trimmed[0] == '#' {
			continue
		}
		f := strings.SplitN(line, ":", 4)
		if len(f) != 4 {
			t.Fatalf("not id:runlevels:action:process: %q", line)
		}
		l := initLine{f[0], f[1], f[2], f[3]}
		if l.id == "" || len(l.id) > 4 || len(l.levels) > 11 || len(l.process) > 127 || l.action != "respawn" {
			t.Errorf("init would refuse %q", line)
		}
		out = append(out, l)
	}
	return out
}

// initMeta holds the characters that make sysvinit run a process field
// through /bin/sh (spawn in init.c).
const initMeta = "~`!$^&*()=|\\{}[];\"'<>?"

// initArgv returns the argv sysvinit runs for a process field: /bin/sh -c
// "exec PROCESS" when it holds a metacharacter, else the field split at
// blanks, cut at "#", at most 14 words.
func initArgv(process string) []string {
	if strings.ContainsAny(process, initMeta) {
		return []string{"/bin/sh", "-c", "exec " + process}
	}
	var argv []string
	for _, w := range strings.FieldsFunc(process, func(r rune) bool { return r == ' ' || r == '\t' }) {
		w, _, cut := strings.Cut(w, "#")
		if w != "" {
			argv = append(argv, w)
		}
		if cut || len(argv) == 14 {
			break
		}
	}
	return argv
}

// recorder is a script that writes its own argv, NUL-separated, and
// whether XDG_RUNTIME_DIR is set, to $ZSMTEST_OUT.
const recorder = `#!/bin/sh
printf '%s\000' "$0" "$@" >"$ZSMTEST_OUT"
printf 'XDG_RUNTIME_DIR=%s\000' "${XDG_RUNTIME_DIR-unset}" >>"$ZSMTEST_OUT"
`

// fakes makes dir/bin holding recorders named runuser and zsm, and a
// recorder at zsmPath; it returns the bin directory.
func fakes(t *testing.T, dir, zsmPath string) string {
	t.Helper()
	bin := filepath.Join(dir, "bin")
	for _, p := range []string{filepath.Join(bin, "runuser"), zsmPath} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(recorder), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return bin
}

// record runs argv (argv[0] found on bin when it has no "/") with
// XDG_RUNTIME_DIR set and returns what the recorder it reached wrote.
func record(t *testing.T, bin string, argv []string) []string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "argv")
	prog := argv[0]
	if !strings.Contains(prog, "/") {
		prog = filepath.Join(bin, prog)
	}
	cmd := exec.Command(prog, argv[1:]...)
	cmd.Env = []string{"PATH=" + bin + ":/usr/bin:/bin", "ZSMTEST_OUT=" + out, "XDG_RUNTIME_DIR=/run/user/0"}
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%q: %v\n%s", argv, err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
}

// shortTempDir returns a new directory with a short path, for commands that
// must fit in inittab's 127 characters.
func shortTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "z")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// TestInittabRuns runs every generated inittab line the way sysvinit does,
// with recorders standing in for runuser and zsm, and checks the argv the
// broker gets.
func TestInittabRuns(t *testing.T) {
	for _, tc := range []struct {
		name    string
		zsm     string // under the temp dir
		config  string
		uid     int
		viaInit string // how init runs the line: "sh" or "split"
	}{
		{"root, plain paths", "/zsm", "/etc/zsm.hcl", 0, "split"},
		{"root, odd paths", "/a b'$c/zsm", "/c'd $e.hcl", 0, "sh"},
		{"root, # in a path", "/a#b/zsm", "/c.hcl", 0, "sh"},
		{"user, plain paths", "/zsm", "/etc/zsm.hcl", 1000, "split"},
		{"user, odd paths", "/'$ z", "/c'$ .hcl", 1000, "sh"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := shortTempDir(t)
			zsm := dir + tc.zsm
			bin := fakes(t, dir, zsm)
			opt := SysvOptions{ZSM: zsm, User: "ann", UID: tc.uid, PidfileDir: "/run/z"}
			content, err := Inittab(&config.File{Path: tc.config, Sites: []*config.Site{site("blog", tcp("", 80))}}, opt)
			if err != nil {
				t.Fatal(err)
			}
			lines := parseInittab(t, string(content))
			if len(lines) != 1 {
				t.Fatalf("%d lines, want 1:\n%s", len(lines), content)
			}
			argv := initArgv(lines[0].process)
			if via := map[bool]string{true: "sh", false: "split"}[argv[0] == "/bin/sh"]; via != tc.viaInit {
				t.Errorf("init runs %q through %s, want %s", lines[0].process, via, tc.viaInit)
			}
			got := record(t, bin, argv)
			want := []string{zsm, "serve", "--site", "blog", "--config", tc.config, "--pidfile", "/run/z/blog.pid", "--log", "syslog"}
			if tc.uid != 0 {
				want = append([]string{filepath.Join(bin, "runuser"), "-u", "ann", "--"}, want...)
			}
			// init gives its children no XDG_RUNTIME_DIR; the recorder got
			// the test's, passed through.
			want = append(want, "XDG_RUNTIME_DIR=/run/user/0")
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("init runs (-want +got):\n%s\nfrom %s", diff, content)
			}
		})
	}
}

// TestCrontabRuns runs each generated crontab command as cron does (sh -c,
// with an XDG_RUNTIME_DIR that must not reach the broker), and the install
// command of the header twice against a fake crontab holding a line of the
// user's own, which must stay.
func TestCrontabRuns(t *testing.T) {
	dir := t.TempDir()
	zsm := filepath.Join(dir, "a b'$c", "zsm")
	bin := fakes(t, dir, zsm)
	cfg := "/home/ann/it's $X.hcl"
	opt := SysvOptions{ZSM: zsm, UID: 1000}
	content, err := Crontab(sysvConfig(cfg), opt)
	if err != nil {
		t.Fatal(err)
	}
	var install string
	var jobs []string
	for _, line := range strings.Split(strings.TrimSuffix(string(content), "\n"), "\n") {
		if strings.HasPrefix(line, "#") {
			if _, cmd, ok := strings.Cut(line, ":   "); ok {
				install = cmd
			}
			continue
		}
		var cmd string
		var ok bool
		if cmd, ok = strings.CutPrefix(line, "@reboot "); !ok {
			if cmd, ok = strings.CutPrefix(line, "* * * * * "); !ok {
				t.Fatalf("not a crontab job: %q", line)
			}
		}
		jobs = append(jobs, cmd)
	}
	if len(jobs) != 4 {
		t.Fatalf("%d jobs, want 4:\n%s", len(jobs), content)
	}
	for i, cmd := range jobs {
		site := []string{"api-v2", "api-v2", "blog", "blog"}[i]
		got := record(t, bin, []string{"/bin/sh", "-c", cmd})
		want := []string{zsm, "serve", "--site", site, "--config", cfg, "--pidfile", "/tmp/zsm-1000/" + site + ".pid",
			"--daemon", "--if-stopped", "--log", "syslog", "XDG_RUNTIME_DIR=unset"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("job %q runs (-want +got):\n%s", cmd, diff)
		}
	}

	// The install command, with crontab and zsmgen faked.
	tab := filepath.Join(dir, "crontab")
	gen := filepath.Join(dir, "generated")
	if err := os.WriteFile(gen, content, 0o644); err != nil {
		t.Fatal(err)
	}
	for name, script := range map[string]string{
		"crontab": `#!/bin/sh
case $1 in
-l) [ -e "$TAB" ] || { echo "no crontab for you" >&2; exit 1; }; cat "$TAB" ;;
-) cat >"$TAB.new" && mv "$TAB.new" "$TAB" ;; # installed at EOF, as crontab does
*) exit 2 ;;
esac
`,
		"zsmgen": "#!/bin/sh\ncat \"$GEN\"\n",
	} {
		if err := os.WriteFile(filepath.Join(bin, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	mine := "MAILTO=ann\n0 3 * * * backup # zsmgen elsewhere\n"
	for i, start := range []string{"", mine} {
		os.Remove(tab)
		if start != "" {
			os.WriteFile(tab, []byte(start), 0o600)
		}
		for range 2 {
			cmd := exec.Command("/bin/sh", "-c", install)
			cmd.Env = []string{"PATH=" + bin + ":/usr/bin:/bin", "TAB=" + tab, "GEN=" + gen}
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%s: %v\n%s", install, err, out)
			}
		}
		got, err := os.ReadFile(tab)
		if err != nil {
			t.Fatal(err)
		}
		if want := start + string(content); string(got) != want {
			t.Errorf("run %d: installing twice gives\n%s\nwant\n%s", i, got, want)
		}
	}
}

// The install command in the header makes the same crontab again: with
// the brokers' --log too, or they would go back to syslog.
func TestCrontabInstallKeepsOptions(t *testing.T) {
	opt := SysvOptions{ZSM: "/usr/bin/zsm", UID: 1000, PidfileDir: "/run/zsm", Log: "/var/log/zsm.log", Site: "blog"}
	content, err := Crontab(sysvConfig("/etc/zsm.hcl"), opt)
	if err != nil {
		t.Fatal(err)
	}
	want := "zsmgen crontab --zsm /usr/bin/zsm --pidfile-dir /run/zsm --log /var/log/zsm.log --site blog /etc/zsm.hcl; } | crontab -"
	if !strings.Contains(string(content), want) {
		t.Errorf("the install command does not run %q:\n%s", want, content)
	}
}

func TestSysvErrors(t *testing.T) {
	f := func() *config.File { return sysvConfig("/etc/zsm.hcl") }
	fWith := func(edit func(s *config.Site)) *config.File {
		c := f()
		edit(c.Sites[0])
		return c
	}
	ok := SysvOptions{ZSM: "/usr/bin/zsm", Config: "/etc/zsm.hcl", User: "ann", UID: 1000}
	with := func(edit func(o *SysvOptions)) SysvOptions {
		o := ok
		edit(&o)
		return o
	}
	gens := map[string]func(*config.File, SysvOptions) ([]byte, error){
		"inittab": Inittab,
		"crontab": Crontab,
		"rc":      func(f *config.File, o SysvOptions) ([]byte, error) { return RC(f.Sites[0], o) },
	}
	for _, tc := range []struct {
		name    string
		gens    string // which generators, space-separated
		f       *config.File
		opt     SysvOptions
		wantErr string
	}{
		{"relative zsm", "inittab rc crontab", f(), with(func(o *SysvOptions) { o.ZSM = "zsm" }), `zsm binary "zsm": is not an absolute path`},
		{"zsm directory", "inittab rc crontab", f(), with(func(o *SysvOptions) { o.ZSM = "/usr/bin/" }), "names a directory"},
		{"zsm with newline", "inittab rc crontab", f(), with(func(o *SysvOptions) { o.ZSM = "/usr/bin/z\nsm" }), "control character"},
		{"relative config", "inittab rc crontab", f(), with(func(o *SysvOptions) { o.Config = "zsm.hcl" }), `config path "zsm.hcl": is not an absolute path`},
		{"config with NUL", "inittab rc crontab", f(), with(func(o *SysvOptions) { o.Config = "/a\x00" }), "NUL"},
		{"relative pid file directory", "inittab rc crontab", f(), with(func(o *SysvOptions) { o.PidfileDir = "run" }), "pid file directory"},
		{"negative uid", "inittab rc crontab", f(), with(func(o *SysvOptions) { o.UID = -1 }), "negative uid"},
		{"no user", "inittab rc", f(), with(func(o *SysvOptions) { o.User = "" }), "no user"},
		{"user like an option", "inittab rc", f(), with(func(o *SysvOptions) { o.User = "-c" }), "starts with '-'"},
		{"user with tab", "inittab rc", f(), with(func(o *SysvOptions) { o.User = "a\tb" }), "control character"},
		{"unknown site", "inittab crontab", f(), with(func(o *SysvOptions) { o.Site = "wiki" }), `/etc/zsm.hcl has no site "wiki"`},
		{"bad site name", "inittab rc crontab", fWith(func(s *config.Site) { s.Name = "a b" }), ok, `Site name "a b" cannot become a unit name`},
		{"duplicate site", "inittab crontab", &config.File{Path: "/etc/zsm.hcl", Sites: []*config.Site{site("a"), site("a")}}, ok, "defined twice"},
		{"rc named *.sh", "rc", fWith(func(s *config.Site) { s.Name = "x.sh" }), ok, "sourced"},
		{"rc without config", "rc", f(), with(func(o *SysvOptions) { o.Config = "" }), "no config path"},
		{"rc negative stop", "rc", fWith(func(s *config.Site) { s.Timeouts.Stop = -1 }), ok, "negative stop timeout"},
		{"runlevel 0", "inittab", f(), with(func(o *SysvOptions) { o.Runlevels = "0235" }), "runlevel 0 halts or reboots"},
		{"runlevel 6", "inittab", f(), with(func(o *SysvOptions) { o.Runlevels = "6" }), "runlevel 6"},
		{"runlevel letter", "inittab", f(), with(func(o *SysvOptions) { o.Runlevels = "2a" }), "want digits 1-9 and S"},
		{"runlevel twice", "inittab", f(), with(func(o *SysvOptions) { o.Runlevels = "22" }), "2 twice"},
		{"runlevels s and S", "inittab", f(), with(func(o *SysvOptions) { o.Runlevels = "sS" }), "S twice"},
		{"process too long", "inittab", f(), with(func(o *SysvOptions) { o.ZSM = "/" + strings.Repeat("z", 60) }),
			`site "api-v2": the command is 155 characters, and sysvinit takes at most 127 in an inittab process field`},
		{"percent in crontab", "crontab", f(), with(func(o *SysvOptions) { o.Config = "/etc/100%.hcl" }), "which cron turns into a newline"},
		{"crontab too long", "crontab", f(), with(func(o *SysvOptions) { o.Config = "/" + strings.Repeat("c", 500) }), "cron reads at most 999"},
	} {
		for _, name := range strings.Fields(tc.gens) {
			t.Run(tc.name+"/"+name, func(t *testing.T) {
				out, err := gens[name](tc.f, tc.opt)
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q; output:\n%s", err, tc.wantErr, out)
				}
				if !strings.HasPrefix(err.Error(), "units: "+name+": ") {
					t.Errorf("error %q lacks the package and op prefix", err)
				}
			})
		}
	}
}

// TestInittabLimit checks the 127-character limit at its edge: the
// longest command that fits, and one more character.
func TestInittabLimit(t *testing.T) {
	f := &config.File{Path: "/etc/zsm.hcl", Sites: []*config.Site{site("blog", tcp("", 80))}}
	opt := SysvOptions{ZSM: "/usr/bin/zsm", User: "ann", UID: 1000}
	b, err := Inittab(f, opt)
	if err != nil {
		t.Fatal(err)
	}
	process := parseInittab(t, string(b))[0].process
	pad := strings.Repeat("z", maxInittabProcess-len(process))
	opt.ZSM = "/usr/bin/" + pad + "zsm"
	b, err = Inittab(f, opt)
	if err != nil {
		t.Fatalf("a command of exactly %d characters: %v", maxInittabProcess, err)
	}
	if n := len(parseInittab(t, string(b))[0].process); n != maxInittabProcess {
		t.Fatalf("process field of %d characters, want %d", n, maxInittabProcess)
	}
	opt.ZSM = "/usr/bin/z" + pad + "zsm"
	if _, err := Inittab(f, opt); err == nil || !strings.Contains(err.Error(), "128 characters") {
		t.Errorf("a command of %d characters: %v", maxInittabProcess+1, err)
	}
}

func TestIsGeneratedRC(t *testing.T) {
	script, err := RC(site("blog", tcp("", 80)), SysvOptions{ZSM: "/usr/bin/zsm", Config: "/etc/zsm.hcl", User: "root"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		content string
		want    bool
	}{
		{"generated", string(script), true},
		{"someone else's", "#!/bin/sh\n### BEGIN INIT INFO\n# Provides: zsm-blog\n", false},
		{"empty", "", false},
		{"header far down", strings.Repeat("#\n", 30) + rcHeader("/etc/zsm.hcl") + "\n", false},
	} {
		if got := IsGeneratedRC([]byte(tc.content)); got != tc.want {
			t.Errorf("%s: IsGeneratedRC = %v, want %v", tc.name, got, tc.want)
		}
	}
}
