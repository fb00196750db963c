package snapshot

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/zsm-dev/zsm/internal/config"
	"github.com/zsm-dev/zsm/internal/config/hclconfig"
)

// Every key a site can set survives the copy: a broker that runs the copy
// instead of decoding the file runs the same site. The file sets every
// key, none at its default.
const everyKey = `
site "full" {
  listen      = ["127.0.0.1:8080", "unix:full.sock", "[::1]:8081"]
  command     = ["/usr/bin/app", "--port", "{port}", "~/x"]
  mode        = "proxy"
  protocol    = "http"
  directory   = "~/srv"
  environment = { A = "1", B = "two" }
  eager       = true
  stop_signal = "QUIT"
  backend {
    address   = "127.0.0.1:{port}"
    ports     = "9000-9002,9010"
    instances = 2
    maxconn   = 7
  }
  pool {
    min_idle       = 2
    max            = 5
    queue          = 100
    max_requests   = 1000
    max_memory     = "512M"
    max_age        = "2h"
    idle_stop      = "1m"
    exit_when_idle = true
  }
  timeouts {
    start      = "3s"
    stop       = "7s"
    watchdog   = "4s"
    handoff    = "2s"
    queue      = "9s"
    connect    = "1s"
    first_byte = "11s"
    drain      = "2s"
    idle       = "1m"
  }
  status {
    listen = "127.0.0.1:9100"
  }
  limits {
    memory = "1G"
    cpu    = "150%"
  }
}
site "timed" {
  listen          = ["127.0.0.1:8090"]
  command         = ["/usr/bin/app"]
  slow_log        = "2s"
  slow_log_signal = "USR1"
  timeouts {
    request = "30s"
  }
}
`

func TestSaveLoadKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "site.hcl")
	f, err := hclconfig.Parse(cfg, []byte(everyKey), hclconfig.Options{Home: "/home/u"})
	if err != nil {
		t.Fatal(err)
	}
	for _, ex := range examples(t) {
		f.Sites = append(f.Sites, ex.Sites...)
	}
	for _, site := range f.Sites {
		if err := Save(dir, cfg, "d", site); err != nil {
			t.Fatal(err)
		}
		s, err := Load(dir, cfg, site.Name)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(site, s.Site); diff != "" {
			t.Errorf("site %s after Save and Load (-decoded +copy):\n%s", site.Name, diff)
		}
	}
}

// examples decodes the bundled examples.
func examples(t *testing.T) []*config.File {
	paths, err := filepath.Glob("../../contrib/examples/*.hcl")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	var files []*config.File
	for _, p := range paths {
		f, err := hclconfig.Load(p)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	return files
}

// A copy stands for its file only while the file's bytes, its path and the
// home "~" expands to are what the copy was decoded from.
func TestCurrent(t *testing.T) {
	dir := t.TempDir()
	f, err := hclconfig.Parse("/etc/site.hcl", []byte(`site "a" {
  listen  = ["127.0.0.1:1"]
  command = ["app"]
}`), hclconfig.Options{})
	if err != nil {
		t.Fatal(err)
	}
	site := f.Sites[0]
	src := []byte("the file")
	d := Digest("/etc/site.hcl", "/home/u", src)
	if err := Save(dir, "/etc/site.hcl", d, site); err != nil {
		t.Fatal(err)
	}
	if Current(dir, "/etc/site.hcl", "a", d) == nil {
		t.Error("the copy of unchanged bytes is not current")
	}
	for name, other := range map[string]string{
		"bytes": Digest("/etc/site.hcl", "/home/u", []byte("the file!")),
		"home":  Digest("/etc/site.hcl", "/home/v", src),
		// The length prefixes keep a path and a home from trading bytes.
		"split": Digest("/etc/site.hcl/", "home/u", src),
	} {
		if other == d {
			t.Errorf("%s: the same digest", name)
		}
		if Current(dir, "/etc/site.hcl", "a", other) != nil {
			t.Errorf("%s changed: the copy is still current", name)
		}
	}
	if Current(dir, "/etc/other.hcl", "a", d) != nil {
		t.Error("the copy is current for another file")
	}
	if Current(dir, "/etc/site.hcl", "b", d) != nil {
		t.Error("a copy is current for a site that has none")
	}
}

// A version 1 copy (no digest) still serves a broken file's site, and is
// never current.
func TestVersionOne(t *testing.T) {
	dir := t.TempDir()
	f, err := hclconfig.Parse("/etc/site.hcl", []byte(everyKey), hclconfig.Options{})
	if err != nil {
		t.Fatal(err)
	}
	v1, err := json.Marshal(Snapshot{Version: 1, Config: "/etc/site.hcl", Site: f.Sites[0]})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "full.last.json"), v1, 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err := Load(dir, "/etc/site.hcl", "full"); err != nil || s.Site.Name != "full" {
		t.Fatalf("Load of a version 1 copy: %v", err)
	}
	if Current(dir, "/etc/site.hcl", "full", "") != nil {
		t.Error("a version 1 copy is current")
	}
}
