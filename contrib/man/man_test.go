package man

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the pages generated from Markdown")

// generated are the pages made from the repository's documents.
var generated = []page{
	{source: "docs/config.md", file: "zsm.hcl.5", name: "zsm.hcl", section: "5",
		desc:    "the configuration file of zsm's sites",
		seeAlso: ".BR zsmgen (1),\n.BR zsm (1),\n.BR zsm-protocol (7),\n.BR systemd.socket (5),\n.BR systemd.resource-control (5)"},
	{source: "activation/PROTOCOL.md", file: "zsm-protocol.7", name: "zsm-protocol", section: "7",
		seeAlso: ".BR zsm (1),\n.BR zsm.hcl (5),\n.BR sd_notify (3),\n.BR unix (7),\n.BR recvmsg (2)"},
}

// root is the repository's root, from contrib/man.
const root = "../.."

// TestGenerated: zsm.hcl.5 and zsm-protocol.7 are what their Markdown
// documents render to (go test ./contrib/man -update rewrites them).
func TestGenerated(t *testing.T) {
	for _, p := range generated {
		md, err := os.ReadFile(filepath.Join(root, p.source))
		if err != nil {
			t.Fatal(err)
		}
		got := p.render(string(md))
		if *update {
			if err := os.WriteFile(p.file, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(p.file)
		if err != nil {
			t.Fatalf("%v (go test ./contrib/man -update writes it)", err)
		}
		if diff := cmp.Diff(string(want), got); diff != "" {
			t.Errorf("%s is not what %s renders to: run go test ./contrib/man -update (-committed +rendered):\n%s", p.file, p.source, diff)
		}
	}
}

// pages lists every manual page here.
func pages(t *testing.T) []string {
	t.Helper()
	var ps []string
	for _, glob := range []string{"*.1", "*.5", "*.7"} {
		m, _ := filepath.Glob(glob)
		ps = append(ps, m...)
	}
	if len(ps) != 4 {
		t.Fatalf("pages %v; want zsm.1, zsmgen.1, zsm.hcl.5 and zsm-protocol.7", ps)
	}
	return ps
}

// format renders a page as text 80 columns wide, with man(1) as a user
// reads it (warnings on), else with groff; it fails the test on any
// warning or error.
func format(t *testing.T, file string) string {
	t.Helper()
	var cmd *exec.Cmd
	if _, err := exec.LookPath("man"); err == nil {
		cmd = exec.Command("man", "--warnings", "-E", "UTF-8", "-l", file)
		cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8", "MANROFFSEQ=", "MANWIDTH=80", "MANPAGER=cat", "PAGER=cat")
	} else if _, err := exec.LookPath("groff"); err == nil {
		cmd = exec.Command("groff", "-man", "-k", "-ww", "-Tutf8", "-P-cbou", "-rLL=80n", file)
	} else {
		t.Skip("neither man nor groff is installed (.ci/deps installs man-db and groff-base)")
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil || stderr.Len() > 0 {
		t.Fatalf("%s: %v\n%s", cmd, err, stderr.String())
	}
	return stdout.String()
}

// TestRender: every page renders without a warning, through man(1) and,
// where installed, through groff with every warning on, and has the
// sections a man page has.
func TestRender(t *testing.T) {
	for _, p := range pages(t) {
		t.Run(p, func(t *testing.T) {
			out := format(t, p)
			for _, sec := range []string{"\nNAME\n", "\nDESCRIPTION\n", "\nSEE ALSO\n"} {
				if !strings.Contains(out, sec) {
					t.Errorf("%s has no %s section:\n%.2000s", p, strings.TrimSpace(sec), out)
				}
			}
			if _, err := exec.LookPath("groff"); err != nil {
				return
			}
			var stderr bytes.Buffer
			cmd := exec.Command("groff", "-man", "-k", "-ww", "-z", p)
			cmd.Stderr = &stderr
			if err := cmd.Run(); err != nil || stderr.Len() > 0 {
				t.Errorf("groff -man -ww -z %s: %v\n%s", p, err, stderr.String())
			}
		})
	}
}

// configKey is a key of docs/config.md with its type and default.
type configKey struct {
	section, key, typ, def string
}

// configKeys reads every key of docs/config.md's tables of keys, with its
// default as written, less Markdown's backquotes.
func configKeys(t *testing.T) []configKey {
	t.Helper()
	md, err := os.ReadFile(filepath.Join(root, "docs", "config.md"))
	if err != nil {
		t.Fatal(err)
	}
	var keys []configKey
	section, inKeys := "", false
	for _, line := range strings.Split(string(md), "\n") {
		switch {
		case strings.HasPrefix(line, "## "):
			section = strings.ReplaceAll(strings.TrimPrefix(line, "## "), "`", "")
		case strings.HasPrefix(line, "| key | type | default |"):
			inKeys = true
		case inKeys && strings.HasPrefix(line, "|---"):
		case inKeys && strings.HasPrefix(line, "| "):
			c := cells(line)
			plain := func(s string) string { return strings.ReplaceAll(s, "`", "") }
			keys = append(keys, configKey{section, plain(c[0]), plain(c[1]), plain(c[2])})
		default:
			inKeys = false
		}
	}
	if len(keys) < 30 {
		t.Fatalf("read %d keys from docs/config.md: the table format changed?", len(keys))
	}
	return keys
}

var spaces = regexp.MustCompile(`\s+`)

// TestConfigPageCoversEveryKey: zsm.hcl(5), as man shows it, has every
// key of docs/config.md, in its block's section, with its default.
func TestConfigPageCoversEveryKey(t *testing.T) {
	out := format(t, "zsm.hcl.5")
	// The sections, as man prints them: a heading at the margin, then
	// indented text.
	sections := map[string]string{}
	heading := ""
	for _, line := range strings.Split(out, "\n") {
		if line != "" && line[0] != ' ' {
			heading = line
		}
		sections[heading] += line + "\n"
	}
	for _, k := range configKeys(t) {
		text, ok := sections[k.section]
		if !ok {
			t.Errorf("zsm.hcl(5) has no section %q (for key %s)", k.section, k.key)
			continue
		}
		// The entry's tag: "key (type: ...; default: ...)".
		want := spaces.ReplaceAllString(fmt.Sprintf(" %s (type: %s; default: %s) ", k.key, k.typ, k.def), " ")
		if !strings.Contains(spaces.ReplaceAllString(text, " "), want) {
			t.Errorf("section %s of zsm.hcl(5) has no entry %q", k.section, strings.TrimSpace(want))
		}
	}
}
