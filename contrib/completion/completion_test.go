package completion

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// host is what the completions look at: a directory (the shell's working
// directory) with a configuration file of two sites and another file, and
// a runtime directory where the site "api" runs (its control socket).
type host struct {
	dir, runtimeDir string
}

func newHost(t *testing.T) host {
	t.Helper()
	h := host{dir: t.TempDir(), runtimeDir: t.TempDir()}
	site := "site \"blog\" {\n  listen  = [\"127.0.0.1:8080\"]\n  command = [\"./blog\"]\n}\n\n  site   \"shop.v2\" {\n}\n# site \"commented\" {\n"
	for name, body := range map[string]string{"site.hcl": site, "notes.txt": "x\n"} {
		if err := os.WriteFile(filepath.Join(h.dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(h.runtimeDir, "zsm"), 0o700); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("unix", filepath.Join(h.runtimeDir, "zsm", "api.control"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	// Not a socket: no site runs there.
	os.WriteFile(filepath.Join(h.runtimeDir, "zsm", "stale.control"), nil, 0o600)
	return h
}

// run runs a shell in the host's directory, with its runtime directory,
// a private home and no configuration from $ZSM_CONFIG, and returns the
// distinct lines it printed, sorted.
func (h host) run(t *testing.T, name string, args ...string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = h.dir
	cmd.Env = append(os.Environ(), "XDG_RUNTIME_DIR="+h.runtimeDir, "HOME="+h.dir, "ZSM_CONFIG=")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	var lines []string
	for _, l := range strings.Split(string(out), "\n") {
		if l != "" {
			lines = append(lines, l)
		}
	}
	slices.Sort(lines)
	return slices.Compact(lines)
}

// cases are command lines, the cursor at their end, and what each shell
// should offer for them.
var cases = []struct {
	line string
	want []string
}{
	{"zsm ", []string{"drain", "help", "reload", "serve", "status", "version"}},
	{"zsm s", []string{"serve", "status"}},
	{"zsm serve --", []string{"--config", "--daemon", "--if-stopped", "--log", "--pidfile", "--site"}},
	{"zsm serve --config site.hcl --site ", []string{"blog", "shop.v2"}},
	{"zsm serve --config site.hcl --site s", []string{"shop.v2"}},
	{"zsm serve --site ", nil}, // no file given, none in $ZSM_CONFIG
	{"zsm reload --site ", []string{"api"}},
	{"zsm status ", []string{"api"}},
	{"zsm drain ", []string{"api"}},
	{"zsmgen ", []string{"check", "crontab", "fmt", "help", "inittab", "rc", "units", "version"}},
	{"zsmgen fmt --", []string{"--check"}},
	{"zsmgen units --", []string{"--dry-run", "--out", "--zsm"}},
	{"zsmgen crontab --", []string{"--log", "--pidfile-dir", "--site", "--zsm"}},
	{"zsmgen rc site.hcl --site ", []string{"blog", "shop.v2"}},
	{"zsmgen inittab --zsm /bin/true site.hcl --site b", []string{"blog"}},
	{"zsmgen check s", []string{"site.hcl"}},
}

// TestBash: the bash scripts load in bash, register their functions, and
// fill COMPREPLY.
func TestBash(t *testing.T) {
	h := newHost(t)
	complete, _ := filepath.Abs(filepath.Join("testdata", "complete.bash"))
	for _, c := range cases {
		t.Run(c.line, func(t *testing.T) {
			script, _ := filepath.Abs(filepath.Join("bash", strings.Fields(c.line)[0]))
			t.Setenv("LINE", c.line)
			got := h.run(t, "bash", "--norc", "--noprofile", complete, script)
			if diff := cmp.Diff(c.want, got); diff != "" {
				t.Errorf("COMPREPLY for %q (-want +got):\n%s", c.line, diff)
			}
		})
	}
}

// need skips the test when shell is not installed.
func need(t *testing.T, shell string) {
	t.Helper()
	if _, err := exec.LookPath(shell); err != nil {
		t.Skipf("%s is not installed (.ci/deps installs it): its completions are not tested", shell)
	}
}

// TestZsh: the zsh functions load through compinit from their directory
// and offer their matches to zsh's completion system (every line in one
// zsh: compinit takes a second here).
func TestZsh(t *testing.T) {
	need(t, "zsh")
	h := newHost(t)
	capture, _ := filepath.Abs(filepath.Join("testdata", "capture.zsh"))
	dir, _ := filepath.Abs("zsh")
	outdir := t.TempDir()
	args := []string{"-f", capture, dir, outdir}
	for _, c := range cases {
		args = append(args, c.line)
	}
	h.run(t, "zsh", args...)
	for i, c := range cases {
		t.Run(c.line, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(outdir, strconv.Itoa(i+1)))
			if err != nil || !strings.HasSuffix(string(b), "zsm-capture-end\n") {
				t.Fatalf("the completion did not finish: %v\n%s", err, b)
			}
			var got []string
			for _, l := range strings.Split(strings.TrimSuffix(string(b), "zsm-capture-end\n"), "\n") {
				if l != "" {
					got = append(got, l)
				}
			}
			slices.Sort(got)
			got = slices.Compact(got)
			if diff := cmp.Diff(c.want, got); diff != "" {
				t.Errorf("zsh's matches for %q (-want +got):\n%s", c.line, diff)
			}
		})
	}
}

// TestFish: the fish scripts load in fish and answer `complete -C`.
func TestFish(t *testing.T) {
	need(t, "fish")
	h := newHost(t)
	zsm, _ := filepath.Abs(filepath.Join("fish", "zsm.fish"))
	zsmgen, _ := filepath.Abs(filepath.Join("fish", "zsmgen.fish"))
	for _, c := range cases {
		t.Run(c.line, func(t *testing.T) {
			// Each candidate, then a tab and its description.
			cmd := "source " + zsm + "; source " + zsmgen + "; complete -C " + fishQuote(c.line) + " | string split -f1 \\t; true" // split fails when no line has a tab
			got := h.run(t, "fish", "--no-config", "-c", cmd)
			if diff := cmp.Diff(c.want, got); diff != "" {
				t.Errorf("fish's candidates for %q (-want +got):\n%s", c.line, diff)
			}
		})
	}
}

// fishQuote quotes s for fish, in single quotes.
func fishQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// TestShellcheck: the bash scripts pass shellcheck, where it is installed.
func TestShellcheck(t *testing.T) {
	need(t, "shellcheck")
	out, err := exec.Command("shellcheck", "-s", "bash", filepath.Join("bash", "zsm"), filepath.Join("bash", "zsmgen")).CombinedOutput()
	if err != nil {
		t.Errorf("shellcheck: %v\n%s", err, out)
	}
}
