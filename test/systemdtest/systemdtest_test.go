package systemdtest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fakeTB records what the helpers report instead of stopping the test.
type fakeTB struct {
	testing.TB // nil: other methods are not expected
	fatal      string
	skipped    string
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Fatalf(format string, args ...any) { f.fatal = fmt.Sprintf(format, args...) }

func (f *fakeTB) Skip(args ...any) { f.skipped = fmt.Sprint(args...) }

func TestEventually(t *testing.T) {
	tests := []struct {
		name      string
		trueAfter int // calls; -1: never
		wantFatal string
	}{
		{name: "at once", trueAfter: 1},
		{name: "after polling", trueAfter: 3},
		{name: "never", trueAfter: -1, wantFatal: "timed out after 100ms waiting for the thing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f fakeTB
			calls := 0
			start := time.Now()
			Eventually(&f, 100*time.Millisecond, "the thing", func() bool {
				calls++
				return calls == tt.trueAfter
			})
			if f.fatal != tt.wantFatal {
				t.Errorf("failure = %q, want %q", f.fatal, tt.wantFatal)
			}
			if tt.trueAfter > 0 && calls != tt.trueAfter {
				t.Errorf("cond called %d times, want %d", calls, tt.trueAfter)
			}
			if tt.trueAfter < 0 && time.Since(start) < 100*time.Millisecond {
				t.Errorf("gave up after %v, before the timeout", time.Since(start))
			}
		})
	}
}

func TestRequire(t *testing.T) {
	for _, tt := range []struct {
		name, env, wantSkip string
	}{
		{name: "outside", env: "", wantSkip: skipReason},
		{name: "inside", env: "1", wantSkip: ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(envHarness, tt.env)
			var f fakeTB
			Require(&f)
			if f.skipped != tt.wantSkip {
				t.Errorf("skip reason = %q, want %q", f.skipped, tt.wantSkip)
			}
		})
	}
}

func TestModuleRootHasHarness(t *testing.T) {
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(root, scriptPath))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm()&0o111 == 0 {
		t.Errorf("%s is not executable: %v", scriptPath, fi.Mode())
	}
}

func TestRepoint(t *testing.T) {
	dir := t.TempDir()
	link := filepath.Join(dir, "config")
	for _, target := range []string{"a", "b"} {
		if err := repoint(link, target); err != nil {
			t.Fatal(err)
		}
		got, err := os.Readlink(link)
		if err != nil || got != target {
			t.Fatalf("readlink = %q, %v; want %q", got, err, target)
		}
	}
}

func TestParseShow(t *testing.T) {
	out := "Id=a.socket\nFragmentPath=/x/a.socket\nDropInPaths=\n\n" +
		"Id=b@1.service\nFragmentPath=/x/b@.service\nDropInPaths=/y/1.conf /y/2.conf\n"
	want := []map[string]string{
		{"Id": "a.socket", "FragmentPath": "/x/a.socket", "DropInPaths": ""},
		{"Id": "b@1.service", "FragmentPath": "/x/b@.service", "DropInPaths": "/y/1.conf /y/2.conf"},
	}
	if diff := cmp.Diff(want, parseShow(out)); diff != "" {
		t.Errorf("parseShow (-want +got):\n%s", diff)
	}
}

func TestGoBuild(t *testing.T) {
	writeModule := func(t *testing.T, files map[string]string) string {
		root := t.TempDir()
		files["go.mod"] = "module example.com/m\n\ngo 1.26\n"
		for name, body := range files {
			p := filepath.Join(root, name)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return root
	}
	const mainGo = "package main\n\nfunc main() {}\n"

	t.Run("commands", func(t *testing.T) {
		root := writeModule(t, map[string]string{
			"cmd/one/main.go":               mainGo,
			"cmd/two/main.go":               mainGo,
			"cmd/two/internal/x/x.go":       "package x\n",
			"lib/lib.go":                    "package lib\n",
			"contrib/workers/hello/main.go": mainGo,
		})
		out := t.TempDir()
		if err := goBuild(root, out, false); err != nil {
			t.Fatal(err)
		}
		var got []string
		entries, err := os.ReadDir(out)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			got = append(got, e.Name())
		}
		if diff := cmp.Diff([]string{"hello", "one", "two"}, got); diff != "" {
			t.Errorf("built (-want +got):\n%s", diff)
		}
	})
	for name, files := range map[string]map[string]string{
		"no cmd":      {"lib/lib.go": "package lib\n"},
		"empty cmd":   {"cmd/README": "nothing\n"},
		"build error": {"cmd/bad/main.go": "package main\n\nfunc main() { undefined() }\n"},
	} {
		t.Run(name, func(t *testing.T) {
			root := writeModule(t, files)
			err := goBuild(root, t.TempDir(), false)
			if err == nil {
				t.Fatal("goBuild succeeded, want an error")
			}
			if name == "build error" && !strings.Contains(err.Error(), "undefined") {
				t.Errorf("error does not show the compiler's message: %v", err)
			}
		})
	}
}
