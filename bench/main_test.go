package main

import (
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseFlags(t *testing.T) {
	root := "/mod"
	t.Run("defaults", func(t *testing.T) {
		o, err := parseFlags(nil, root, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(allScenarios, o.scenarios); diff != "" {
			t.Errorf("scenarios (-want +got):\n%s", diff)
		}
		if o.only != nil || o.rounds != 5 || o.duration != 3*time.Second || o.loader != "wrk" || !o.peers {
			t.Errorf("defaults: %+v", o)
		}
		if o.jsonPath != filepath.Join(root, "bench/results.json") || o.mdPath != filepath.Join(root, "BENCHMARKS.md") {
			t.Errorf("outputs: %q, %q", o.jsonPath, o.mdPath)
		}
		if diff := cmp.Diff([]int{1, 16, 64}, o.workers); diff != "" {
			t.Errorf("workers (-want +got):\n%s", diff)
		}
		if o.proxyBody != 64<<10 {
			t.Errorf("proxy body %d", o.proxyBody)
		}
		if diff := cmp.Diff([]int{1, 64}, o.proxyClients); diff != "" {
			t.Errorf("proxy connections (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]time.Duration{0, 200 * time.Millisecond}, o.delays); diff != "" {
			t.Errorf("delays (-want +got):\n%s", diff)
		}
	})
	t.Run("quick, with an explicit flag kept", func(t *testing.T) {
		o, err := parseFlags([]string{"-quick", "-duration", "2s"}, root, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if o.rounds != 1 || o.duration != 2*time.Second || o.reloadD != 2*time.Second || o.idleN != 1000 {
			t.Errorf("quick: rounds %d, duration %v, reload %v, idle %d", o.rounds, o.duration, o.reloadD, o.idleN)
		}
		if o.proxyRounds != 1 {
			t.Errorf("quick: proxy rounds %d, want 1", o.proxyRounds)
		}
		if o.jsonPath != "" || o.mdPath != "" {
			t.Errorf("a quick run would overwrite %q and %q", o.jsonPath, o.mdPath)
		}
	})
	t.Run("one comparison", func(t *testing.T) {
		o, err := parseFlags([]string{"-scenario", "throughput", "-only", "handoff,direct", "-conn", "newconn"}, root, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if !o.has(scenarioThroughput) || o.has(scenarioCost) {
			t.Errorf("scenarios: %q", o.scenarios)
		}
		for target, want := range map[string]bool{targetHandoff: true, targetDirect: true, targetProxy: false, targetHAProxy: false} {
			if o.wants(target) != want {
				t.Errorf("wants(%s) = %v", target, !want)
			}
		}
		if diff := cmp.Diff([]string{newConn}, o.conns); diff != "" {
			t.Errorf("conns (-want +got):\n%s", diff)
		}
		if o.jsonPath != "" || o.mdPath != "" {
			t.Errorf("a partial run would overwrite %q and %q", o.jsonPath, o.mdPath)
		}
	})
	t.Run("partial, with outputs asked for", func(t *testing.T) {
		o, err := parseFlags([]string{"-scenario", "cost", "-json", "r.json", "-md", "/abs/B.md"}, root, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if o.jsonPath != filepath.Join(root, "r.json") || o.mdPath != "/abs/B.md" {
			t.Errorf("outputs: %q, %q", o.jsonPath, o.mdPath)
		}
	})
	for name, args := range map[string][]string{
		"no proxy comparison by connections": {"-proxy-connections", ""},
		"no proxy comparison by size":        {"-proxy-body", "0"},
		"servers in the bench's session":     {"-sessions=false"},
	} {
		t.Run(name, func(t *testing.T) {
			o, err := parseFlags(args, root, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if o.jsonPath != "" || o.mdPath != "" {
				t.Errorf("%q: a partial run would overwrite %q and %q", args, o.jsonPath, o.mdPath)
			}
		})
	}
	t.Run("no peers", func(t *testing.T) {
		o, err := parseFlags([]string{"-peers=false"}, root, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if o.wants(targetHAProxy) || o.wants(targetProxyd) || o.wants(targetNginx) || !o.wants(targetHandoff) {
			t.Errorf("-peers=false: haproxy %v, socket-proxyd %v, nginx %v, handoff %v",
				o.wants(targetHAProxy), o.wants(targetProxyd), o.wants(targetNginx), o.wants(targetHandoff))
		}
	})
	for name, args := range map[string][]string{
		"unknown scenario":  {"-scenario", "speed"},
		"unknown target":    {"-only", "lighttpd"},
		"unknown conn":      {"-conn", "pipelined"},
		"unknown loader":    {"-loader", "ab"},
		"bad delay":         {"-delays", "soon"},
		"bad workers":       {"-workers", "1,0"},
		"bad connections":   {"-proxy-connections", "1,many"},
		"body too big":      {"-proxy-body", "20000000"},
		"zero rounds":       {"-rounds", "0"},
		"zero proxy rounds": {"-proxy-rounds", "0"},
		"conn twice":        {"-conn", "keepalive,newconn,keepalive"},
		"argument":          {"extra"},
	} {
		t.Run(name, func(t *testing.T) {
			var stderr strings.Builder
			if _, err := parseFlags(args, root, &stderr); !errors.Is(err, errUsage) {
				t.Errorf("parseFlags(%q) = %v, want a usage error", args, err)
			}
			if stderr.Len() == 0 {
				t.Errorf("parseFlags(%q) said nothing", args)
			}
		})
	}
}

func TestCheckToolsNamesPackages(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	o, err := parseFlags(nil, "/mod", io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	_, err = checkTools(o)
	if err == nil {
		t.Fatal("checkTools found wrk and haproxy in an empty PATH")
	}
	for _, want := range []string{"apt-get install wrk haproxy systemd nginx-light", "-loader go", "-peers=false"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not say %q:\n%v", want, err)
		}
	}

	o, err = parseFlags([]string{"-loader", "go", "-peers=false"}, "/mod", io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := checkTools(o); err != nil {
		t.Errorf("-loader go -peers=false needs no tools, got %v", err)
	}
}

func TestLastLines(t *testing.T) {
	for _, c := range []struct {
		in   string
		n    int
		want string
	}{
		{"a\nb\nc\n", 2, "b\nc"},
		{"a\nb", 5, "a\nb"},
		{"", 3, ""},
	} {
		if got := lastLines(c.in, c.n); got != c.want {
			t.Errorf("lastLines(%q, %d) = %q, want %q", c.in, c.n, got, c.want)
		}
	}
}
