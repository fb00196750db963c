package config

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// valid returns a site that passes Validate, with every block in use.
func valid() *Site {
	s := Default()
	s.Name = "blog"
	s.Listen = []Address{{Net: NetTCP, Host: "127.0.0.1", Port: 8080}, {Net: NetUnix, Path: "blog.sock"}}
	s.Command = []string{"./server", "--port", "{port}"}
	s.Directory = "/srv/blog"
	s.Environment["APP_ENV"] = "prod"
	s.Status = &Address{Net: NetUnix, Path: "blog-status.sock"}
	s.Limits = Limits{Memory: 1 << 30, CPUPercent: 200}
	return &s
}

// proxy turns s into a proxy site with two backend instances.
func proxy(s *Site) {
	s.Mode = Proxy
	s.Backend = &Backend{Address: "127.0.0.1:{port}", Ports: []int{9001, 9002}}
}

// fields returns "Field: Summary" of each problem in err.
func fields(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	var ps Problems
	if !errors.As(err, &ps) {
		t.Fatalf("error %v (%T) is not Problems", err, err)
	}
	if len(ps) == 0 {
		t.Fatal("a non-nil error with no problems")
	}
	var out []string
	for _, p := range ps {
		if p.Summary == "" || p.Detail == "" {
			t.Errorf("problem %+v lacks a summary or a detail", p)
		}
		out = append(out, p.Field+": "+p.Summary)
	}
	return out
}

// siteCases edit a valid site and list the problems Validate must find.
var siteCases = []struct {
	name string
	edit func(s *Site)
	want []string // "Field: Summary"; none for a valid site
}{
	{"valid", func(s *Site) {}, nil},
	{"valid proxy", proxy, nil},
	{"default pool and timeouts", func(s *Site) { s.Pool, s.Timeouts = Default().Pool, Default().Timeouts }, nil},

	{"bad name", func(s *Site) { s.Name = "a b" }, []string{"name: Invalid site name"}},
	{"name at the limit", func(s *Site) { s.Name = strings.Repeat("n", MaxNameLength) }, nil},
	{"name above the limit", func(s *Site) { s.Name = strings.Repeat("n", MaxNameLength+1) }, []string{"name: Invalid site name"}},

	{"no listen", func(s *Site) { s.Listen = nil }, []string{"listen: No listen address"}},
	{"listen twice", func(s *Site) { s.Listen = append(s.Listen, Address{Net: NetTCP, Port: 8080}) },
		[]string{"listen[2]: Address already in use"}},
	{"bad listen address", func(s *Site) { s.Listen[1].Path = "@abstract" }, []string{"listen[1]: Invalid address"}},

	{"no command", func(s *Site) { s.Command = nil }, []string{"command: Invalid command"}},
	{"empty program", func(s *Site) { s.Command = []string{""} }, []string{"command: Invalid command"}},
	{"newline in an argument", func(s *Site) { s.Command[2] = "a\nb" }, []string{"command[2]: Invalid command"}},
	{"NUL in an argument", func(s *Site) { s.Command[1] = "a\x00" }, []string{"command[1]: Invalid command"}},

	{"bad mode", func(s *Site) { s.Mode = "fork" }, []string{"mode: Invalid mode"}},
	{"bad mode with a backend", func(s *Site) { proxy(s); s.Mode = "fork" }, []string{"mode: Invalid mode"}},
	{"bad protocol", func(s *Site) { s.Protocol = "gopher" }, []string{"protocol: Invalid protocol"}},

	{"relative directory", func(s *Site) { s.Directory = "srv" }, []string{"directory: Invalid directory"}},
	{"no directory", func(s *Site) { s.Directory = "" }, []string{"directory: Invalid directory"}},
	{"newline in directory", func(s *Site) { s.Directory = "/srv/a\nb" }, []string{"directory: Invalid directory"}},

	{"bad environment name", func(s *Site) { s.Environment["1BAD"] = "x" }, []string{`environment["1BAD"]: Invalid environment`}},
	{"NUL in environment value", func(s *Site) { s.Environment["OK"] = "a\x00" }, []string{`environment["OK"]: Invalid environment`}},

	{"min_idle above max", func(s *Site) { s.Pool.MinIdle, s.Pool.Max = 5, 2 }, []string{"pool.min_idle: Invalid pool"}},
	{"min_idle at max", func(s *Site) { s.Pool.MinIdle, s.Pool.Max = 2, 2 }, nil},
	{"negative min_idle", func(s *Site) { s.Pool.MinIdle = -1 }, []string{"pool.min_idle: Invalid value"}},
	{"max zero, no relation reported", func(s *Site) { s.Pool.Max = 0 }, []string{"pool.max: Invalid value"}},
	{"max at the bound", func(s *Site) { s.Pool.Max = MaxWorkers }, nil},
	{"max above the bound", func(s *Site) { s.Pool.Max = MaxWorkers + 1 }, []string{"pool.max: Invalid value"}},
	{"a billion workers", func(s *Site) { s.Pool.Max = 1_000_000_000 }, []string{"pool.max: Invalid value"}},
	{"min_idle above the bound", func(s *Site) { s.Pool.MinIdle, s.Pool.Max = MaxWorkers+1, MaxWorkers }, []string{"pool.min_idle: Invalid value"}},
	{"queue at the bound", func(s *Site) { s.Pool.Queue = MaxQueue }, nil},
	{"queue above the bound", func(s *Site) { s.Pool.Queue = MaxQueue + 1 }, []string{"pool.queue: Invalid value"}},
	{"negative queue", func(s *Site) { s.Pool.Queue = -1 }, []string{"pool.queue: Invalid value"}},
	{"max_requests at the bound", func(s *Site) { s.Pool.MaxRequests = MaxRequestsPerWorker }, nil},
	{"max_requests above the bound", func(s *Site) { s.Pool.MaxRequests = MaxRequestsPerWorker + 1 }, []string{"pool.max_requests: Invalid value"}},
	{"max_memory at the bound", func(s *Site) { s.Pool.MaxMemory = MaxMemory }, nil},
	{"max_memory above the bound", func(s *Site) { s.Pool.MaxMemory = MaxMemory + 1 }, []string{"pool.max_memory: Invalid size"}},
	{"negative max_memory", func(s *Site) { s.Pool.MaxMemory = -1 }, []string{"pool.max_memory: Invalid size"}},
	{"max_age at the bound", func(s *Site) { s.Pool.MaxAge = MaxWorkerAge }, nil},
	{"max_age above the bound", func(s *Site) { s.Pool.MaxAge = MaxWorkerAge + time.Second }, []string{"pool.max_age: Invalid duration"}},
	{"negative max_age", func(s *Site) { s.Pool.MaxAge = -time.Second }, []string{"pool.max_age: Invalid duration"}},
	{"idle_stop at the bound", func(s *Site) { s.Pool.IdleStop = MaxIdleStop }, nil},
	{"idle_stop above the bound", func(s *Site) { s.Pool.IdleStop = 366 * 24 * time.Hour }, []string{"pool.idle_stop: Invalid duration"}},
	{"exit_when_idle without idle_stop", func(s *Site) { s.Pool.ExitWhenIdle, s.Pool.IdleStop = true, 0 }, []string{"pool.exit_when_idle: Invalid pool"}},
	{"exit_when_idle with idle_stop", func(s *Site) { s.Pool.ExitWhenIdle = true }, nil},

	{"start at the minimum", func(s *Site) { s.Timeouts.Start = MinTimeout }, nil},
	{"start below the minimum", func(s *Site) { s.Timeouts.Start = 10 * time.Millisecond }, []string{"timeouts.start: Invalid duration"}},
	{"start at the bound", func(s *Site) { s.Timeouts.Start = MaxStartTimeout }, nil},
	{"start above the bound", func(s *Site) { s.Timeouts.Start = MaxStartTimeout + time.Second }, []string{"timeouts.start: Invalid duration"}},
	{"stop zero", func(s *Site) { s.Timeouts.Stop = 0 }, []string{"timeouts.stop: Invalid duration"}},
	{"stop at the bound", func(s *Site) { s.Timeouts.Stop = MaxStopTimeout }, nil},
	{"stop above the bound", func(s *Site) { s.Timeouts.Stop = MaxStopTimeout + time.Second }, []string{"timeouts.stop: Invalid duration"}},
	{"watchdog off", func(s *Site) { s.Timeouts.Watchdog = 0 }, nil},
	{"handoff at the minimum", func(s *Site) { s.Timeouts.Handoff = MinWait }, nil},
	{"handoff zero", func(s *Site) { s.Timeouts.Handoff = 0 }, []string{"timeouts.handoff: Invalid duration"}},
	{"queue above the bound", func(s *Site) { s.Timeouts.Queue = MaxWait + time.Second }, []string{"timeouts.queue: Invalid duration"}},
	{"connect below the minimum", func(s *Site) { s.Timeouts.Connect = time.Millisecond }, []string{"timeouts.connect: Invalid duration"}},
	{"first_byte at the bound", func(s *Site) { s.Timeouts.FirstByte = MaxWait }, nil},
	{"watchdog below the minimum", func(s *Site) { s.Timeouts.Watchdog = time.Millisecond }, []string{"timeouts.watchdog: Invalid duration"}},
	{"watchdog at the bound", func(s *Site) { s.Timeouts.Watchdog = MaxWatchdog }, nil},
	{"watchdog above the bound", func(s *Site) { s.Timeouts.Watchdog = MaxWatchdog + time.Second }, []string{"timeouts.watchdog: Invalid duration"}},

	{"proxy without backend", func(s *Site) { s.Mode = Proxy }, []string{"mode: Missing backend"}},
	{"backend outside proxy mode", func(s *Site) { proxy(s); s.Mode = Listen }, []string{"backend: Backend outside proxy mode"}},
	{"backend without ports", func(s *Site) { proxy(s); s.Backend.Ports = nil }, []string{"backend.ports: Invalid ports"}},
	{"backend port out of range", func(s *Site) { proxy(s); s.Backend.Ports[1] = 70000 }, []string{"backend.ports: Invalid ports"}},
	{"backend port twice", func(s *Site) { proxy(s); s.Backend.Ports[1] = 9001 }, []string{"backend.ports: Invalid ports"}},
	{"backend ports at the bound", func(s *Site) { proxy(s); s.Backend.Ports = portRange(1, MaxBackends) }, nil},
	{"backend ports above the bound", func(s *Site) { proxy(s); s.Backend.Ports = portRange(1, MaxBackends+1) }, []string{"backend.ports: Invalid ports"}},
	{"backend address without {port}", func(s *Site) { proxy(s); s.Backend.Address = "127.0.0.1:9000" }, []string{"backend.address: Invalid backend address"}},
	{"backend address without host", func(s *Site) { proxy(s); s.Backend.Address = ":{port}" }, []string{"backend.address: Invalid backend address"}},
	{"backend address a name", func(s *Site) { proxy(s); s.Backend.Address = "localhost:{port}" }, []string{"backend.address: Invalid backend address"}},
	{"no backend address", func(s *Site) { proxy(s); s.Backend.Address = "" }, []string{"backend.address: Invalid backend address"}},
	{"one backend port without {port}", func(s *Site) {
		proxy(s)
		s.Backend.Address, s.Backend.Ports = "127.0.0.1:9000", []int{9000}
	}, nil},

	{"status on a listen address", func(s *Site) { s.Status = &Address{Net: NetTCP, Port: 8080} }, []string{"status.listen: Address already in use"}},
	{"bad status address", func(s *Site) { s.Status = &Address{Net: NetTCP, Port: 0} }, []string{"status.listen: Invalid address"}},

	{"memory at the bound", func(s *Site) { s.Limits.Memory = MaxMemory }, nil},
	{"memory above the bound", func(s *Site) { s.Limits.Memory = MaxMemory + 1 }, []string{"limits.memory: Invalid size"}},
	{"negative memory", func(s *Site) { s.Limits.Memory = -1 }, []string{"limits.memory: Invalid size"}},
	{"no cpu limit", func(s *Site) { s.Limits.CPUPercent = 0 }, nil},
	{"cpu at the bound", func(s *Site) { s.Limits.CPUPercent = MaxCPUPercent }, nil},
	{"cpu above the bound", func(s *Site) { s.Limits.CPUPercent = MaxCPUPercent + 1 }, []string{"limits.cpu: Invalid CPU limit"}},
	{"negative cpu", func(s *Site) { s.Limits.CPUPercent = -1 }, []string{"limits.cpu: Invalid CPU limit"}},

	{"every problem at once", func(s *Site) {
		s.Name, s.Listen, s.Command, s.Pool.Max, s.Timeouts.Stop = "", nil, nil, 0, 0
	}, []string{
		"name: Invalid site name", "listen: No listen address", "command: Invalid command",
		"pool.max: Invalid value", "timeouts.stop: Invalid duration",
	}},
}

func TestSiteValidate(t *testing.T) {
	for _, tc := range siteCases {
		t.Run(tc.name, func(t *testing.T) {
			s, before := valid(), valid()
			tc.edit(s)
			tc.edit(before)
			got := fields(t, s.Validate())
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(before, s); diff != "" {
				t.Errorf("Validate changed the site (-before +after):\n%s", diff)
			}
		})
	}
}

func portRange(first, n int) []int {
	ports := make([]int, n)
	for i := range ports {
		ports[i] = first + i
	}
	return ports
}

// TestValidateDetails keeps the wording users read for the rules that
// hclconfig reported before they moved here.
func TestValidateDetails(t *testing.T) {
	s := valid()
	s.Pool.MinIdle, s.Pool.Max = 5, 2
	s.Timeouts.Start = time.Millisecond
	s.Timeouts.Stop = 25 * time.Hour
	s.Pool.MaxAge = 400 * 24 * time.Hour
	// Validate reports in a fixed order: the pool's values, its
	// relations, then the timeouts.
	want := strings.Join([]string{
		"Invalid duration: max_age must be at most 8760h.",
		"Invalid pool: min_idle (5) cannot be larger than max (2).",
		"Invalid duration: start must be at least 1s.",
		"Invalid duration: stop must be at most 24h.",
	}, "\n")
	err := s.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	if got := err.Error(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestFileValidate(t *testing.T) {
	site := func(name string, port int) *Site {
		s := valid()
		s.Name = name
		s.Listen = []Address{{Net: NetTCP, Host: "127.0.0.1", Port: port}}
		s.Status = nil
		return s
	}
	for _, tc := range []struct {
		name  string
		sites []*Site
		want  []string
	}{
		{"no sites", nil, nil},
		{"two sites", []*Site{site("a", 1), site("b", 2)}, nil},
		{"duplicate name", []*Site{site("a", 1), site("a", 2)}, []string{"sites[1].name: Duplicate site"}},
		{"same address", []*Site{site("a", 1), site("b", 1)}, []string{"sites[1].listen[0]: Address already in use"}},
		{"wildcard and host", []*Site{site("a", 1), func() *Site {
			s := site("b", 2)
			s.Listen[0].Host = ""
			s.Listen[0].Port = 1
			return s
		}()}, []string{"sites[1].listen[0]: Address already in use"}},
		{"status on another site's address", []*Site{site("a", 1), func() *Site {
			s := site("b", 2)
			s.Status = &Address{Net: NetTCP, Host: "127.0.0.1", Port: 1}
			return s
		}()}, []string{"sites[1].status.listen: Address already in use"}},
		{"a site's own problem", []*Site{site("a", 1), func() *Site {
			s := site("b", 2)
			s.Pool.Max = 0
			return s
		}()}, []string{"sites[1].pool.max: Invalid value"}},
		{"nil site", []*Site{nil}, []string{"sites[0]: Missing site"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &File{Path: "/etc/zsm/site.hcl", Sites: tc.sites}
			if diff := cmp.Diff(tc.want, fields(t, f.Validate())); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCheckName(t *testing.T) {
	for _, tc := range []struct {
		name string
		want string // in the detail; "" for valid
	}{
		{"blog", ""},
		{"api-v2", ""},
		{"shop.example_1", ""},
		{"9lives", ""},
		{strings.Repeat("x", MaxNameLength), ""},
		{"", "empty"},
		{"my site", "cannot become a unit name"},
		{"a/b", "cannot become a unit name"},
		{"-x", "cannot become a unit name"},
		{"_x", "cannot become a unit name"},
		{"ünï", "cannot become a unit name"},
		{"a@b", "cannot become a unit name"},
		{strings.Repeat("x", MaxNameLength+1), "longer than 64 characters"},
	} {
		err := CheckName(tc.name)
		if tc.want == "" {
			if err != nil {
				t.Errorf("CheckName(%q) = %v, want nil", tc.name, err)
			}
			continue
		}
		var p Problem
		if !errors.As(err, &p) || p.Field != "name" || p.Summary != "Invalid site name" || !strings.Contains(p.Detail, tc.want) {
			t.Errorf("CheckName(%q) = %#v, want a name Problem containing %q", tc.name, err, tc.want)
		}
	}
}

// TestNameFits checks MaxNameLength against the places a name goes, as its
// doc comment says.
func TestNameFits(t *testing.T) {
	long := strings.Repeat("x", MaxNameLength)
	if n := len("zsm@" + long + ".service.d"); n > 255 {
		t.Errorf("unit drop-in directory of %d characters", n)
	}
	if n := len("dev.zsm.Site.") + 3*MaxNameLength; n > 255 {
		t.Errorf("escaped bus name of %d characters", n)
	}
	if n := len("/run/user/4294967295/zsm/" + long + ".control"); n > MaxSocketPath {
		t.Errorf("control socket path of %d bytes", n)
	}
}

func TestDefault(t *testing.T) {
	want := Site{
		Mode:        Handoff,
		Protocol:    TCP,
		StopSignal:  "TERM",
		Environment: map[string]string{},
		Pool:        Pool{MinIdle: 1, Max: 4, Queue: 256, IdleStop: 10 * time.Minute},
		Timeouts: Timeouts{Start: 30 * time.Second, Stop: 30 * time.Second,
			Handoff: time.Second, Queue: 30 * time.Second, Connect: 5 * time.Second, FirstByte: time.Minute,
			Drain: 5 * time.Second, Idle: 5 * time.Minute},
	}
	a, b := Default(), Default()
	if diff := cmp.Diff(want, a); diff != "" {
		t.Errorf("Default() (-want +got):\n%s", diff)
	}
	a.Environment["X"] = "1"
	if len(b.Environment) != 0 {
		t.Error("two Default sites share their Environment map")
	}
	// The defaults pass every rule they take part in.
	s := valid()
	s.Pool, s.Timeouts = a.Pool, a.Timeouts
	if err := s.Validate(); err != nil {
		t.Errorf("a site with the default pool and timeouts: %v", err)
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0s", time.Second: "1s", 10 * time.Minute: "10m", 90 * time.Minute: "90m",
		time.Hour: "1h", 8760 * time.Hour: "8760h", 1500 * time.Millisecond: "1.5s",
	} {
		if got := formatDuration(d); got != want {
			t.Errorf("formatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}
