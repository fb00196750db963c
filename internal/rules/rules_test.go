package rules

import (
	"bytes"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/zsm-dev/zsm"

// pkg is what `go list -json` says of a package.
type pkg struct {
	ImportPath string
	Dir        string
	Standard   bool
	Imports    []string // direct, non-test
	Deps       []string // every package it needs, non-test
}

// root is the module's directory.
func root(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}

// packages lists the module's packages.
func packages(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-e", "-json", "./...")
	cmd.Dir = root(t)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// in says whether path is dir of the module, or below it.
func in(path, dir string) bool {
	p := module + "/" + dir
	return path == p || strings.HasPrefix(path, p+"/")
}

// stdOrXSys says whether a dependency is the standard library or x/sys.
func stdOrXSys(dep string) bool {
	first, _, _ := strings.Cut(dep, "/")
	return !strings.Contains(first, ".") || strings.HasPrefix(dep, "golang.org/x/sys/")
}

// layer is a rule about what a part of the tree may depend on.
type layer struct {
	dir    string   // the packages it applies to: this one and those below
	except []string // packages below dir it does not apply to
	deep   bool     // check every dependency, not only direct imports
	forbid func(dep string) bool
	why    string
}

var layers = []layer{
	{dir: "activation", deep: true, forbid: func(d string) bool { return !stdOrXSys(d) },
		why: "activation is what a worker imports: the standard library and x/sys only"},
	{dir: "internal/event", deep: true, forbid: func(d string) bool { return !stdOrXSys(d) && !in(d, "internal/bounded") },
		why: "events are a leaf that every sink and the broker share"},
	{dir: "internal/status", deep: true, forbid: func(d string) bool { return !stdOrXSys(d) },
		why: "status is plain data that every surface shares"},
	{dir: "internal/bounded", deep: true, forbid: func(d string) bool { return !stdOrXSys(d) },
		why: "the bounded queue is a leaf under events and logs"},
	{dir: "broker", deep: true, forbid: func(d string) bool {
		return strings.HasPrefix(d, "github.com/godbus/") || strings.HasPrefix(d, "github.com/coreos/go-systemd/") ||
			strings.HasPrefix(d, "github.com/hashicorp/hcl/")
	}, why: "the broker declares the interfaces it needs; D-Bus, systemd and HCL adapters are wired in cmd"},
	{dir: "broker", forbid: func(d string) bool { return in(d, "cmd") || in(d, "units") },
		why: "imports point one way: cmd → broker"},
	{dir: "units", forbid: func(d string) bool { return in(d, "cmd") || in(d, "broker") },
		why: "imports point one way: cmd → units → internal"},
	{dir: "internal", forbid: func(d string) bool {
		return in(d, "cmd") || in(d, "broker") || in(d, "units") || in(d, "bench") || in(d, "test")
	}, why: "imports point one way: cmd → broker, units → internal"},
	{dir: "internal/statuspage", deep: true, forbid: func(d string) bool { return strings.HasPrefix(d, "github.com/godbus/") },
		why: "the web page shows plain status data; it does not need the bus"},
	{dir: "internal", except: []string{"internal/busapi"}, forbid: func(d string) bool { return strings.HasPrefix(d, "github.com/godbus/") },
		why: "internal/busapi is the one adapter to D-Bus"},
	{dir: "internal", except: []string{"internal/busapi", "internal/journal", "internal/sdnotify"},
		forbid: func(d string) bool { return strings.HasPrefix(d, "github.com/coreos/go-systemd/") },
		why:    "internal/journal, sdnotify and busapi are the adapters to systemd"},
	{dir: "internal", except: []string{"internal/config/hclconfig", "internal/config/hclfmt"},
		forbid: func(d string) bool { return strings.HasPrefix(d, "github.com/hashicorp/hcl/") },
		why:    "internal/config/hclconfig is the one HCL decoder (and hclfmt its formatter)"},
	{dir: "cmd/zsm", deep: true, forbid: func(d string) bool {
		return strings.HasPrefix(d, "github.com/hashicorp/hcl/v2/hclwrite") || strings.HasPrefix(d, "github.com/google/go-cmp")
	}, why: "the broker's binary starts on every cold start: no formatter (package hclfmt) in it"},
}

// TestLayering: a package that imports across the intended direction, or
// a dependency outside its adapter, fails here with the reason.
func TestLayering(t *testing.T) {
	for _, p := range packages(t) {
		for _, l := range layers {
			if !in(p.ImportPath, l.dir) || excepted(p.ImportPath, l.except) {
				continue
			}
			deps := p.Imports
			if l.deep {
				deps = p.Deps
			}
			for _, d := range deps {
				if l.forbid(d) {
					t.Errorf("%s imports %s: %s", strings.TrimPrefix(p.ImportPath, module+"/"), d, l.why)
				}
			}
		}
	}
}

func excepted(path string, except []string) bool {
	for _, e := range except {
		if in(path, e) {
			return true
		}
	}
	return false
}

// The rules find what they are for: a rule that could never fail is no
// rule.
func TestLayersBite(t *testing.T) {
	for _, c := range []struct {
		pkg, dep string
	}{
		{module + "/activation", "github.com/coreos/go-systemd/v22/daemon"},
		{module + "/broker", "github.com/godbus/dbus/v5"},
		{module + "/broker", module + "/cmd/zsm"},
		{module + "/internal/sockets", module + "/broker"},
		{module + "/internal/statuspage", "github.com/godbus/dbus/v5"},
		{module + "/internal/control", "github.com/hashicorp/hcl/v2"},
	} {
		caught := false
		for _, l := range layers {
			if in(c.pkg, l.dir) && !excepted(c.pkg, l.except) && l.forbid(c.dep) {
				caught = true
			}
		}
		if !caught {
			t.Errorf("no rule forbids %s to import %s", c.pkg, c.dep)
		}
	}
}

// goFiles walks the module's non-test Go files, testdata left out.
func goFiles(t *testing.T, fn func(path string, src []byte)) {
	t.Helper()
	top := root(t)
	err := filepath.WalkDir(top, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && path != top {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(top, path)
		fn(rel, src)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Limits a newcomer can read within.
const (
	maxBrokerFile = 500 // lines in a file of broker/
	maxFunc       = 80  // lines in a function of non-test code
)

// TestSizes: no file of the broker over maxBrokerFile lines, no function
// over maxFunc.
func TestSizes(t *testing.T) {
	goFiles(t, func(path string, src []byte) {
		if n := bytes.Count(src, []byte("\n")); strings.HasPrefix(path, "broker/") && n > maxBrokerFile {
			t.Errorf("%s: %d lines, more than %d: split it by what its parts do", path, n, maxBrokerFile)
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, path, src, 0)
		if err != nil {
			t.Errorf("%s: %v", path, err)
			return
		}
		ast.Inspect(f, func(n ast.Node) bool {
			var body *ast.BlockStmt
			name := "a function literal"
			switch fn := n.(type) {
			case *ast.FuncDecl:
				body, name = fn.Body, fn.Name.Name
			case *ast.FuncLit:
				body = fn.Body
			}
			if body != nil {
				lines := fset.Position(body.Rbrace).Line - fset.Position(body.Lbrace).Line + 1
				if lines > maxFunc {
					t.Errorf("%s:%d: %s is %d lines, more than %d", path, fset.Position(body.Lbrace).Line, name, lines, maxFunc)
				}
			}
			return true
		})
	})
}

// modeBranchesAllowed are the broker functions that may look at the site's
// mode: newMode picks the strategy once, compatible compares two
// configurations.
var modeBranchesAllowed = map[string]bool{"newMode": true, "compatible": true}

// TestNoModeBranches: the broker's core asks its mode strategy, never
// which mode the site runs.
func TestNoModeBranches(t *testing.T) {
	goFiles(t, func(path string, src []byte) {
		if !strings.HasPrefix(path, "broker/") {
			return
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, path, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || modeBranchesAllowed[fn.Name.Name] {
				continue
			}
			ast.Inspect(fn, func(n ast.Node) bool {
				var operands []ast.Expr
				switch n := n.(type) {
				case *ast.BinaryExpr:
					if n.Op == token.EQL || n.Op == token.NEQ {
						operands = []ast.Expr{n.X, n.Y}
					}
				case *ast.SwitchStmt:
					operands = []ast.Expr{n.Tag}
				}
				for _, e := range operands {
					if sel, ok := e.(*ast.SelectorExpr); ok && sel.Sel.Name == "Mode" {
						t.Errorf("%s: %s branches on the site's mode: ask the mode strategy instead", fset.Position(sel.Pos()), fn.Name.Name)
					}
				}
				return true
			})
		}
	})
}

// TestDocGo: every package says what it is in a doc.go.
func TestDocGo(t *testing.T) {
	for _, p := range packages(t) {
		src, err := os.ReadFile(filepath.Join(p.Dir, "doc.go"))
		if err != nil {
			t.Errorf("%s has no doc.go", strings.TrimPrefix(p.ImportPath, module+"/"))
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), "doc.go", src, parser.ParseComments)
		if err != nil || f.Doc == nil {
			t.Errorf("%s/doc.go has no package comment", strings.TrimPrefix(p.ImportPath, module+"/"))
		}
	}
}

// TestReadmeOpens: the README's first code block is the two set-up
// commands, `make demo` and `make test`, and the lines before it say how
// to install zsm: the Debian package, or go install.
func TestReadmeOpens(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	before, rest, ok := strings.Cut(string(b), "\n```sh\n")
	block, _, closed := strings.Cut(rest, "\n```\n")
	if !ok || !closed {
		t.Fatal("README.md has no ```sh code block")
	}
	var commands []string
	for _, line := range strings.Split(block, "\n") {
		cmd, _, _ := strings.Cut(line, "#")
		commands = append(commands, strings.TrimSpace(cmd))
	}
	if want := []string{"make demo", "make test"}; !slices.Equal(commands, want) {
		t.Errorf("README.md's first code block runs %q; want exactly %q", commands, want)
	}
	intro := strings.Join(strings.Fields(before), " ")
	for _, want := range []string{"make deb", "apt install", "go install github.com/zsm-dev/zsm/cmd/...@latest"} {
		if !strings.Contains(intro, want) {
			t.Errorf("README.md's opening lines do not say %q", want)
		}
	}
}
