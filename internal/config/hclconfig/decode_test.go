package hclconfig

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/hcl/v2"

	"github.com/zsm-dev/zsm/internal/config"
)

func parse(t *testing.T, src string) (*config.File, error) {
	t.Helper()
	return Parse("/etc/zsm/site.hcl", []byte(src), Options{Home: "/home/u"})
}

func TestParseMinimal(t *testing.T) {
	f, err := parse(t, `
site "hello" {
  listen  = ["127.0.0.1:8080"]
  command = ["./hello"]
}`)
	if err != nil {
		t.Fatal(err)
	}
	want := &config.File{Path: "/etc/zsm/site.hcl", Sites: []*config.Site{{
		Name:        "hello",
		Listen:      []config.Address{{Net: config.NetTCP, Host: "127.0.0.1", Port: 8080}},
		Mode:        config.Handoff,
		Protocol:    config.TCP,
		Command:     []string{"./hello"},
		Directory:   "/etc/zsm",
		Environment: map[string]string{},
		StopSignal:  "TERM",
		Pool:        config.Pool{MinIdle: 1, Max: 4, Queue: 256, IdleStop: 10 * time.Minute},
		Timeouts: config.Timeouts{Start: 30 * time.Second, Stop: 30 * time.Second,
			Handoff: time.Second, Queue: 30 * time.Second, Connect: 5 * time.Second, FirstByte: time.Minute,
			Drain: 5 * time.Second, Idle: 5 * time.Minute},
	}}}
	if diff := cmp.Diff(want, f); diff != "" {
		t.Errorf("minimal site (-want +got):\n%s", diff)
	}
}

func TestParseEveryKey(t *testing.T) {
	f, err := parse(t, `
site "blog" {
  listen      = ["127.0.0.1:8080", "[::1]:8080", ":8443", "unix:blog.sock", "unix:/srv/blog.sock"]
  mode        = "proxy"
  protocol    = "http"
  command     = ["./blog-server", "--port", "{port}"]
  directory   = "~/sites/blog"
  environment = { APP_ENV = "prod", "WORKERS" = "2" }
  eager       = true
  stop_signal = "sigquit"

  pool {
    min_idle       = 2
    max            = 8
    queue          = 64
    max_requests   = 1000
    max_memory     = "512MiB"
    max_age        = "1h"
    idle_stop      = "5m"
    exit_when_idle = true
  }
  timeouts {
    start      = "10s"
    stop       = "1m"
    watchdog   = "20s"
    handoff    = "2s"
    queue      = "15s"
    connect    = "3s"
    first_byte = "2m"
    drain      = "20s"
    idle       = "90s"
  }
  backend {
    address   = "127.0.0.1:{port}"
    ports     = "9001-9003,9010"
    instances = 3
    maxconn   = 32
  }
  status {
    listen = "unix:blog-status.sock"
    public = true
  }
  limits {
    memory = "1G"
    cpu    = "200%"
  }
}
site "api" {
  listen  = ["127.0.0.1:8081"]
  command = ["api"]
  directory = "rel/dir"
}`)
	if err != nil {
		t.Fatal(err)
	}
	want := &config.File{Path: "/etc/zsm/site.hcl", Sites: []*config.Site{{
		Name: "blog",
		Listen: []config.Address{
			{Net: config.NetTCP, Host: "127.0.0.1", Port: 8080},
			{Net: config.NetTCP, Host: "::1", Port: 8080},
			{Net: config.NetTCP, Port: 8443},
			{Net: config.NetUnix, Path: "blog.sock"},
			{Net: config.NetUnix, Path: "/srv/blog.sock"},
		},
		Mode:        config.Proxy,
		Protocol:    config.HTTP,
		Command:     []string{"./blog-server", "--port", "{port}"},
		Directory:   "/home/u/sites/blog",
		Environment: map[string]string{"APP_ENV": "prod", "WORKERS": "2"},
		Eager:       true,
		StopSignal:  "QUIT",
		Pool: config.Pool{MinIdle: 2, Max: 8, Queue: 64, MaxRequests: 1000, MaxMemory: 512 << 20,
			MaxAge: time.Hour, IdleStop: 5 * time.Minute, ExitWhenIdle: true},
		Timeouts: config.Timeouts{Start: 10 * time.Second, Stop: time.Minute, Watchdog: 20 * time.Second,
			Handoff: 2 * time.Second, Queue: 15 * time.Second, Connect: 3 * time.Second, FirstByte: 2 * time.Minute,
			Drain: 20 * time.Second, Idle: 90 * time.Second},
		Backend: &config.Backend{Address: "127.0.0.1:{port}", Ports: []int{9001, 9002, 9003, 9010},
			Instances: 3, MaxConn: 32},
		Status:       &config.Address{Net: config.NetUnix, Path: "blog-status.sock"},
		StatusPublic: true,
		Limits:       config.Limits{Memory: 1 << 30, CPUPercent: 200},
	}, {
		Name:        "api",
		Listen:      []config.Address{{Net: config.NetTCP, Host: "127.0.0.1", Port: 8081}},
		Mode:        config.Handoff,
		Protocol:    config.TCP,
		Command:     []string{"api"},
		Directory:   "/etc/zsm/rel/dir",
		Environment: map[string]string{},
		StopSignal:  "TERM",
		Pool:        config.Default().Pool,
		Timeouts:    config.Default().Timeouts,
	}}}
	if diff := cmp.Diff(want, f); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// locations returns the "file:line:col: Summary" heads of err's problems.
func locations(t *testing.T, err error) []string {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("got error %v (%T), want *Error", err, err)
	}
	var heads []string
	for _, d := range e.Diagnostics {
		heads = append(heads, d.Subject.Filename+":"+
			itoa(d.Subject.Start.Line)+":"+itoa(d.Subject.Start.Column)+": "+d.Summary)
	}
	return heads
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{"syntax", `site "a" {
  listen = ["127.0.0.1:1"
}`, []string{"/etc/zsm/site.hcl:3:1: Missing item separator"}},
		{"unknown attribute", `site "a" {
  listen  = ["127.0.0.1:1"]
  command = ["x"]
  comand  = ["y"]
}`, []string{"/etc/zsm/site.hcl:4:3: Unsupported argument"}},
		{"unknown block", `site "a" {
  listen  = ["127.0.0.1:1"]
  command = ["x"]
  poool { max = 1 }
}`, []string{"/etc/zsm/site.hcl:4:3: Unsupported block type"}},
		{"unknown top-level", `sites "a" {}`, []string{"/etc/zsm/site.hcl:1:1: Unsupported block type"}},
		{"missing required", `site "a" {
  command = ["x"]
}`, []string{"/etc/zsm/site.hcl:1:10: Missing required argument"}},
		{"wrong type", `site "a" {
  listen  = "127.0.0.1:1"
  command = ["x"]
  pool { max = "four" }
}`, []string{"/etc/zsm/site.hcl:2:13: Invalid value", "/etc/zsm/site.hcl:4:17: Unsuitable value type"}},
		{"bad duration", `site "a" {
  listen   = ["127.0.0.1:1"]
  command  = ["x"]
  timeouts { stop = "30" }
  pool { idle_stop = "-1m" }
}`, []string{"/etc/zsm/site.hcl:4:21: Invalid duration", "/etc/zsm/site.hcl:5:22: Invalid duration"}},
		{"timeout too short", `site "a" {
  listen   = ["127.0.0.1:1"]
  command  = ["x"]
  timeouts { start = "10ms" }
}`, []string{"/etc/zsm/site.hcl:4:22: Invalid duration"}},
		{"bad size", `site "a" {
  listen  = ["127.0.0.1:1"]
  command = ["x"]
  limits { memory = "1 parsec" }
  pool { max_memory = "-5M" }
}`, []string{"/etc/zsm/site.hcl:4:21: Invalid size", "/etc/zsm/site.hcl:5:23: Invalid size"}},
		{"bad cpu", `site "a" {
  listen  = ["127.0.0.1:1"]
  command = ["x"]
  limits { cpu = "2" }
}`, []string{"/etc/zsm/site.hcl:4:18: Invalid CPU limit"}},
		{"bad addresses", `site "a" {
  listen  = ["localhost:80", "127.0.0.1", "1.2.3.4:99999", "::1:80", "unix:", "unix:@abs"]
  command = ["x"]
}`, []string{
			"/etc/zsm/site.hcl:2:14: Invalid address", "/etc/zsm/site.hcl:2:30: Invalid address",
			"/etc/zsm/site.hcl:2:43: Invalid address", "/etc/zsm/site.hcl:2:60: Invalid address",
			"/etc/zsm/site.hcl:2:70: Invalid address", "/etc/zsm/site.hcl:2:79: Invalid address",
		}},
		{"empty listen", `site "a" {
  listen  = []
  command = ["x"]
}`, []string{"/etc/zsm/site.hcl:2:13: No listen address"}},
		{"duplicate site", `site "a" {
  listen  = ["127.0.0.1:1"]
  command = ["x"]
}
site "a" {
  listen  = ["127.0.0.1:2"]
  command = ["x"]
}`, []string{"/etc/zsm/site.hcl:5:6: Duplicate site"}},
		{"duplicate block", `site "a" {
  listen  = ["127.0.0.1:1"]
  command = ["x"]
  pool { max = 2 }
  pool { max = 3 }
}`, []string{"/etc/zsm/site.hcl:5:3: Duplicate block"}},
		{"two sites one address", `site "a" {
  listen  = ["127.0.0.1:8080"]
  command = ["x"]
}
site "b" {
  listen  = [":8080"]
  command = ["x"]
}`, []string{"/etc/zsm/site.hcl:6:14: Address already in use"}},
		{"one address twice in a site", `site "a" {
  listen  = ["unix:a.sock", "unix:a.sock"]
  command = ["x"]
}`, []string{"/etc/zsm/site.hcl:2:29: Address already in use"}},
		{"status on a listen address", `site "a" {
  listen  = ["127.0.0.1:8080"]
  command = ["x"]
  status { listen = "127.0.0.1:8080" }
}`, []string{"/etc/zsm/site.hcl:4:21: Address already in use"}},
		{"backend outside proxy mode", `site "a" {
  listen  = ["127.0.0.1:1"]
  command = ["x"]
  mode    = "listen"
  backend {
    address = "127.0.0.1:{port}"
    ports   = "9001"
  }
}`, []string{"/etc/zsm/site.hcl:5:3: Backend outside proxy mode"}},
		{"proxy without backend", `site "a" {
  listen  = ["127.0.0.1:1"]
  command = ["x"]
  mode    = "proxy"
}`, []string{"/etc/zsm/site.hcl:4:13: Missing backend"}},
		{"bad backend", `site "a" {
  listen  = ["127.0.0.1:1"]
  command = ["x"]
  mode    = "proxy"
  backend {
    address = "127.0.0.1:9000"
    ports   = "9004-9001"
  }
}
site "b" {
  listen  = ["127.0.0.1:2"]
  command = ["x"]
  mode    = "proxy"
  backend {
    address = "127.0.0.1:9000"
    ports   = "9001-9002"
  }
}`, []string{"/etc/zsm/site.hcl:7:15: Invalid ports", "/etc/zsm/site.hcl:15:15: Invalid backend address"}},
		{"bad site names", `site "my site" {
  listen  = ["127.0.0.1:1"]
  command = ["x"]
}
site "a/b" {
  listen  = ["127.0.0.1:2"]
  command = ["x"]
}
site "-x" {
  listen  = ["127.0.0.1:3"]
  command = ["x"]
}
site "` + strings.Repeat("x", 65) + `" {
  listen  = ["127.0.0.1:4"]
  command = ["x"]
}`, []string{
			"/etc/zsm/site.hcl:1:6: Invalid site name", "/etc/zsm/site.hcl:5:6: Invalid site name",
			"/etc/zsm/site.hcl:9:6: Invalid site name", "/etc/zsm/site.hcl:13:6: Invalid site name",
		}},
		{"bad mode and protocol", `site "a" {
  listen   = ["127.0.0.1:1"]
  command  = ["x"]
  mode     = "fork"
  protocol = "gopher"
}`, []string{"/etc/zsm/site.hcl:4:14: Invalid mode", "/etc/zsm/site.hcl:5:14: Invalid protocol"}},
		{"bad pool", `site "a" {
  listen  = ["127.0.0.1:1"]
  command = ["x"]
  pool {
    min_idle = 5
    max      = 2
  }
}
site "b" {
  listen  = ["127.0.0.1:2"]
  command = ["x"]
  pool {
    max            = 0
    exit_when_idle = true
    idle_stop      = "0s"
  }
}`, []string{
			"/etc/zsm/site.hcl:5:16: Invalid pool", "/etc/zsm/site.hcl:13:22: Invalid value",
			"/etc/zsm/site.hcl:14:22: Invalid pool",
		}},
		{"bad environment", `site "a" {
  listen      = ["127.0.0.1:1"]
  command     = ["x"]
  environment = { "1BAD" = "x", OK = ["no"] }
}`, []string{"/etc/zsm/site.hcl:4:19: Invalid environment", "/etc/zsm/site.hcl:4:38: Unsuitable value type"}},
		{"newline in command", `site "a" {
  listen  = ["127.0.0.1:1"]
  command = ["x", "a\nb"]
}`, []string{"/etc/zsm/site.hcl:3:19: Invalid command"}},
		{"variables are not allowed", `site "a" {
  listen  = ["127.0.0.1:1"]
  command = [var.x]
}`, []string{"/etc/zsm/site.hcl:3:14: Variables not allowed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse(t, tt.src)
			if err == nil {
				t.Fatal("parsed without error")
			}
			if diff := cmp.Diff(tt.want, locations(t, err)); diff != "" {
				t.Errorf("problems (-want +got):\n%s\nfull error:\n%v", diff, err)
			}
		})
	}
}

// TestParseStatusPublic: a status page on an address other hosts reach
// without public = true still parses (an edit must not take a site down),
// and the file says where in a warning; the broker leaves the page out
// (config.Site.StatusAllowed).
func TestParseStatusPublic(t *testing.T) {
	tests := []struct {
		name          string
		status        string // the status block's body
		public        bool
		allowed       bool
		warnings      []string // "At: Summary"
		detailsSaying string
	}{
		{"every interface", `listen = ":18090"`, false, false,
			[]string{"/etc/zsm/site.hcl:5:14: Status page not served"}, `":18090" is reachable from other hosts`},
		{"every interface, public", "listen = \":18090\"\n    public = true", true, true, nil, ""},
		{"an interface's address", "public = false\n    listen = \"192.0.2.7:18090\"", false, false,
			[]string{"/etc/zsm/site.hcl:6:14: Status page not served"}, `Listen on "127.0.0.1:18090"`},
		{"IPv6 wildcard", `listen = "[::]:18090"`, false, false,
			[]string{"/etc/zsm/site.hcl:5:14: Status page not served"}, `Listen on "[::1]:18090"`},
		{"loopback", `listen = "127.0.0.1:18090"`, false, true, nil, ""},
		{"IPv6 loopback", `listen = "[::1]:18090"`, false, true, nil, ""},
		{"unix socket", `listen = "unix:status.sock"`, false, true, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := parse(t, "site \"a\" {\n  listen  = [\"127.0.0.1:1\"]\n  command = [\"x\"]\n  status {\n    "+tt.status+"\n  }\n}\n")
			if err != nil {
				t.Fatalf("a status page left out must not stop the file: %v", err)
			}
			s := f.Sites[0]
			if s.Status == nil || s.StatusPublic != tt.public || s.StatusAllowed() != tt.allowed {
				t.Errorf("Status %v, StatusPublic %v, StatusAllowed %v; want public %v, allowed %v",
					s.Status, s.StatusPublic, s.StatusAllowed(), tt.public, tt.allowed)
			}
			var heads []string
			for _, w := range f.Warnings {
				heads = append(heads, w.At+": "+w.Problem.Summary)
				if !strings.Contains(w.Problem.Detail, tt.detailsSaying) || !strings.Contains(w.Problem.Detail, "public = true") {
					t.Errorf("warning %q does not say %q and how to serve the page anyway", w.Problem.Detail, tt.detailsSaying)
				}
			}
			if diff := cmp.Diff(tt.warnings, heads); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}

// TestParseStatusPublicErrors: public takes a bool, in the status block.
func TestParseStatusPublicErrors(t *testing.T) {
	for _, tt := range []struct {
		name, src string
		want      []string
	}{
		{"a word", `public = "yes"`, []string{"/etc/zsm/site.hcl:6:15: Unsuitable value type"}},
		{"a number", `public = 1`, []string{"/etc/zsm/site.hcl:6:14: Unsuitable value type"}},
		{"a list", `public = [true]`, []string{"/etc/zsm/site.hcl:6:14: Unsuitable value type"}},
		{"a variable", `public = var.public`, []string{"/etc/zsm/site.hcl:6:14: Variables not allowed"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse(t, "site \"a\" {\n  listen  = [\"127.0.0.1:1\"]\n  command = [\"x\"]\n  status {\n    listen = \":18090\"\n    "+tt.src+"\n  }\n}\n")
			if err == nil {
				t.Fatal("parsed without error")
			}
			if diff := cmp.Diff(tt.want, locations(t, err)); diff != "" {
				t.Errorf("problems (-want +got):\n%s\nfull error:\n%v", diff, err)
			}
		})
	}
	_, err := parse(t, "site \"a\" {\n  listen  = [\"127.0.0.1:1\"]\n  command = [\"x\"]\n  public  = true\n}\n")
	if diff := cmp.Diff([]string{"/etc/zsm/site.hcl:4:3: Unsupported argument"}, locations(t, err)); diff != "" {
		t.Errorf("public outside the status block (-want +got):\n%s", diff)
	}
}

// TestParseBounds checks every upper bound of config.Site.Validate through
// the decoder: at the bound a file passes, just above it the problem
// points at the value.
func TestParseBounds(t *testing.T) {
	for _, tc := range []struct {
		name        string
		block, key  string
		at, above   string
		summary     string
		extra, mode string // more lines of the block; the site's mode
	}{
		{"pool.max", "pool", "max", "1024", "1025", "Invalid value", "", ""},
		{"a billion workers", "pool", "max", "1024", "1000000000", "Invalid value", "", ""},
		{"pool.min_idle", "pool", "min_idle", "1024", "1025", "Invalid value", "max = 1024", ""},
		{"pool.queue", "pool", "queue", "65536", "65537", "Invalid value", "", ""},
		{"pool.max_requests", "pool", "max_requests", "1000000000", "1000000001", "Invalid value", "", ""},
		{"pool.max_memory", "pool", "max_memory", `"1024T"`, `"1025T"`, "Invalid size", "", ""},
		{"pool.max_age", "pool", "max_age", `"8760h"`, `"8761h"`, "Invalid duration", "", ""},
		{"pool.idle_stop", "pool", "idle_stop", `"8760h"`, `"8760h1s"`, "Invalid duration", "", ""},
		{"timeouts.start", "timeouts", "start", `"1h"`, `"61m"`, "Invalid duration", "", ""},
		{"timeouts.stop", "timeouts", "stop", `"24h"`, `"25h"`, "Invalid duration", "", ""},
		{"timeouts.watchdog", "timeouts", "watchdog", `"1h"`, `"1h0m1s"`, "Invalid duration", "", ""},
		{"backend.ports", "backend", "ports", `"1-1024"`, `"1-1025"`, "Invalid ports", `address = "127.0.0.1:{port}"`, "proxy"},
		{"backend.instances", "backend", "instances", "2", "3", "Invalid backend", `address = "127.0.0.1:{port}"` + "\n" + `ports = "9001-9002"`, "proxy"},
		{"backend.maxconn", "backend", "maxconn", "65536", "65537", "Invalid value", `address = "127.0.0.1:{port}"` + "\n" + `ports = "9001-9002"`, "proxy"},
		{"timeouts.drain", "timeouts", "drain", `"24h"`, `"25h"`, "Invalid duration", "", ""},
		{"timeouts.idle", "timeouts", "idle", `"24h"`, `"25h"`, "Invalid duration", "", ""},
		{"limits.memory", "limits", "memory", `"1024T"`, `"1025T"`, "Invalid size", "", ""},
		{"limits.cpu", "limits", "cpu", `"819200%"`, `"819201%"`, "Invalid CPU limit", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := func(v string) string {
				mode := tc.mode
				if mode == "" {
					mode = "handoff"
				}
				return fmt.Sprintf("site \"a\" {\n  listen  = [\"127.0.0.1:1\"]\n  %s {\n    %s = %s\n    %s\n  }\n  command = [\"x\"]\n  mode    = %q\n}\n",
					tc.block, tc.key, v, tc.extra, mode)
			}
			if _, err := parse(t, src(tc.at)); err != nil {
				t.Errorf("at the bound: %v", err)
			}
			_, err := parse(t, src(tc.above))
			if err == nil {
				t.Fatal("above the bound: parsed without error")
			}
			want := []string{fmt.Sprintf("/etc/zsm/site.hcl:4:%d: %s", len("    "+tc.key+" = ")+1, tc.summary)}
			if diff := cmp.Diff(want, locations(t, err)); diff != "" {
				t.Errorf("above the bound (-want +got):\n%s\nfull error:\n%v", diff, err)
			}
		})
	}
}

// TestParseStopSignal: a stop signal is a signal's name that can stop a
// process, and a bad one is reported where it is written.
func TestParseStopSignal(t *testing.T) {
	src := func(v string) string {
		return "site \"a\" {\n  listen  = [\"127.0.0.1:1\"]\n  command = [\"x\"]\n  stop_signal = " + v + "\n}\n"
	}
	for v, want := range map[string]config.Signal{`"QUIT"`: "QUIT", `"SIGINT"`: "INT", `"term"`: "TERM", `"KILL"`: "KILL"} {
		f, err := parse(t, src(v))
		if err != nil || f.Sites[0].StopSignal != want {
			t.Errorf("stop_signal = %s: %v, %v; want %s", v, f, err, want)
		}
	}
	for _, v := range []string{`"STOP"`, `"CONT"`, `"BOGUS"`, `""`, `15`} {
		_, err := parse(t, src(v))
		if got := locations(t, err); len(got) != 1 || !strings.HasPrefix(got[0], "/etc/zsm/site.hcl:4:17: ") {
			t.Errorf("stop_signal = %s: %v; want one problem at 4:17", v, err)
		}
	}
}

// TestParseNameLimit checks the one site name rule, config.CheckName,
// through the decoder.
func TestParseNameLimit(t *testing.T) {
	src := func(name string) string {
		return "site \"" + name + "\" {\n  listen  = [\"127.0.0.1:1\"]\n  command = [\"x\"]\n}\n"
	}
	if _, err := parse(t, src(strings.Repeat("n", config.MaxNameLength))); err != nil {
		t.Errorf("a name of %d characters: %v", config.MaxNameLength, err)
	}
	_, err := parse(t, src(strings.Repeat("n", config.MaxNameLength+1)))
	if diff := cmp.Diff([]string{"/etc/zsm/site.hcl:1:6: Invalid site name"}, locations(t, err)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if want := "is longer than 64 characters."; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
}

// TestParseProblemWithoutKey checks where a problem goes when the key at
// fault is not in the file: here the directory, taken from the path of the
// config file.
func TestParseProblemWithoutKey(t *testing.T) {
	_, err := Parse("/etc/z\nsm/site.hcl", []byte("site \"a\" {\n  listen  = [\"127.0.0.1:1\"]\n  command = [\"x\"]\n}\n"), Options{Home: "/home/u"})
	if diff := cmp.Diff([]string{"/etc/z\nsm/site.hcl:1:1: Invalid directory"}, locations(t, err)); diff != "" {
		t.Errorf("(-want +got):\n%s\nfull error:\n%v", diff, err)
	}
}

// TestParseMessages keeps the wording of problems that config.Site.Validate
// reports for the decoder, with the source line.
func TestParseMessages(t *testing.T) {
	_, err := parse(t, `site "a" {
  listen  = ["127.0.0.1:1"]
  command = ["x"]
  pool {
    min_idle = 5
    max      = 2
  }
  environment = { "1BAD" = "x" }
}`)
	want := `/etc/zsm/site.hcl:5:16: Invalid pool: min_idle (5) cannot be larger than max (2).
    5 |     min_idle = 5
      |                ^
/etc/zsm/site.hcl:8:19: Invalid environment: "1BAD" is not a valid environment variable name.
    8 |   environment = { "1BAD" = "x" }
      |                   ^^^^^^^^^^^^`
	if err == nil || err.Error() != want {
		t.Errorf("got\n%v\nwant\n%s", err, want)
	}
}

func TestErrorShowsSourceLine(t *testing.T) {
	_, err := parse(t, "site \"a\" {\n  listen  = [\"127.0.0.1:1\"]\n  command = [\"x\"]\n\tbogus = 1\n}\n")
	want := `/etc/zsm/site.hcl:4:2: Unsupported argument: An argument named "bogus" is not expected here.
    4 | 	bogus = 1
      | 	^^^^^`
	if got := err.Error(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestParsePorts(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []int
	}{
		{"9001", []int{9001}},
		{"9001-9003, 9010", []int{9001, 9002, 9003, 9010}},
		{"9001,9001", []int{9001, 9001}}, // Validate says twice
		{"70000", []int{70000}},          // Validate says out of range
	} {
		got, err := parsePorts(tc.in)
		if err != nil {
			t.Errorf("parsePorts(%q): %v", tc.in, err)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("parsePorts(%q) (-want +got):\n%s", tc.in, diff)
		}
	}
	// A range wider than any backend stops one past the bound, for
	// Validate to refuse, instead of filling memory.
	for _, in := range []string{"1-65535", "1-9223372036854775807", "9223372036854775807-9223372036854775807,1-2000"} {
		got, err := parsePorts(in)
		if err != nil || len(got) > config.MaxBackends+1 {
			t.Errorf("parsePorts(%q) = %d ports, %v; want at most %d", in, len(got), err, config.MaxBackends+1)
		}
	}
	for _, bad := range []string{"", "x", "9005-9001", "9001,", "-3", "1-2-3", "9001-x"} {
		if _, err := parsePorts(bad); err == nil {
			t.Errorf("parsePorts(%q): no error", bad)
		}
	}
}

// TestDocumented keeps docs/config.md in step with the schema: every key a
// file may use is described there.
func TestDocumented(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "..", "docs", "config.md"))
	if err != nil {
		t.Fatal(err)
	}
	for block, schema := range map[string]*hcl.BodySchema{
		"site": siteSchema, "pool": poolSchema, "timeouts": timeoutsSchema,
		"backend": backendSchema, "status": statusSchema, "limits": limitsSchema,
	} {
		for _, a := range schema.Attributes {
			if !regexp.MustCompile("`" + a.Name + "`").Match(doc) {
				t.Errorf("docs/config.md does not document %s.%s", block, a.Name)
			}
		}
		for _, b := range schema.Blocks {
			if !strings.Contains(string(doc), "`"+b.Type+"`") {
				t.Errorf("docs/config.md does not document block %s", b.Type)
			}
		}
	}
}

// FuzzParse feeds the decoder arbitrary files: it must never panic, and
// what it accepts must be fully valid.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("../../../contrib/examples/*.hcl")
	for _, p := range seeds {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`site "a" { listen = ["127.0.0.1:1"] command = ["x"] }`))
	f.Add([]byte("site \"a\" {\n listen = [\"127.0.0.1:1\"]\n command = [\"x\"]\n status {\n listen = \":2\"\n public = false\n }\n}"))
	f.Add([]byte("site \"a\" {\n listen = [\":1\", \"unix:x\"]\n command = [\"x\"]\n mode = \"proxy\"\n backend {\n address = \"127.0.0.1:{port}\"\n ports = \"1-3\"\n }\n pool { max_memory = \"1G\" }\n}"))
	f.Fuzz(func(t *testing.T, src []byte) {
		file, err := Parse("fuzz.hcl", src, Options{Home: "/home/u"})
		if err != nil {
			var e *Error
			if errors.As(err, &e) {
				_ = e.Error()
			}
			return
		}
		if err := file.Validate(); err != nil {
			t.Fatalf("accepted an invalid file: %v\n%+v", err, file.Sites)
		}
		n := 0
		for _, s := range file.Sites {
			n += len(s.Warnings())
		}
		if n != len(file.Warnings) {
			t.Fatalf("%d warnings in the sites, %d in the file: %v", n, len(file.Warnings), file.Warnings)
		}
	})
}
