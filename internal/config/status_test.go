package config

import (
	"strings"
	"testing"
)

func TestAddressPublic(t *testing.T) {
	tests := []struct {
		addr string
		want bool
	}{
		{":18090", true},
		{"0.0.0.0:18090", true},
		{"[::]:18090", true},
		{"192.0.2.7:18090", true},
		{"[2001:db8::1]:18090", true},
		{"[::ffff:192.0.2.7]:18090", true},
		{"127.0.0.1:18090", false},
		{"127.1.2.3:18090", false},
		{"[::1]:18090", false},
		{"[::ffff:127.0.0.1]:18090", false},
		{"unix:status.sock", false},
		{"unix:/run/zsm/status.sock", false},
	}
	for _, tt := range tests {
		a, err := ParseAddress(tt.addr)
		if err != nil {
			t.Fatalf("ParseAddress(%q): %v", tt.addr, err)
		}
		if got := a.Public(); got != tt.want {
			t.Errorf("%s.Public() = %v, want %v", tt.addr, got, tt.want)
		}
	}
}

// TestStatusAllowed: a status page is served on an address other hosts
// reach only with status.public; the site is valid either way, and says
// why in a warning when the page is left out.
func TestStatusAllowed(t *testing.T) {
	tests := []struct {
		name    string
		status  string // "" for no status page
		public  bool
		allowed bool
		suggest string // the loopback address the warning proposes; "" when no warning
	}{
		{"none", "", false, false, ""},
		{"none, public set", "", true, false, ""},
		{"every interface", ":18090", false, false, `"127.0.0.1:18090"`},
		{"every interface, public", ":18090", true, true, ""},
		{"IPv4 wildcard", "0.0.0.0:18090", false, false, `"127.0.0.1:18090"`},
		{"IPv6 wildcard", "[::]:18090", false, false, `"[::1]:18090"`},
		{"an interface's IPv4", "192.0.2.7:18090", false, false, `"127.0.0.1:18090"`},
		{"an interface's IPv6, public", "[2001:db8::1]:18090", true, true, ""},
		{"IPv4 loopback", "127.0.0.1:18090", false, true, ""},
		{"IPv6 loopback", "[::1]:18090", false, true, ""},
		{"unix socket", "unix:status.sock", false, true, ""},
		{"unix socket, public", "unix:status.sock", true, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := valid()
			s.Status, s.StatusPublic = nil, tt.public
			if tt.status != "" {
				a, err := ParseAddress(tt.status)
				if err != nil {
					t.Fatal(err)
				}
				s.Status = &a
			}
			if err := s.Validate(); err != nil {
				t.Errorf("Validate: %v; a status page left out must not make the site invalid", err)
			}
			if got := s.StatusAllowed(); got != tt.allowed {
				t.Errorf("StatusAllowed() = %v, want %v", got, tt.allowed)
			}
			ws := s.Warnings()
			if tt.suggest == "" {
				if ws != nil {
					t.Errorf("Warnings() = %v, want none", ws)
				}
				return
			}
			if len(ws) != 1 || ws[0].Field != "status.listen" {
				t.Fatalf("Warnings() = %#v, want one about status.listen", ws)
			}
			for _, want := range []string{`"` + tt.status + `" is reachable from other hosts`, "public = true", tt.suggest} {
				if !strings.Contains(ws[0].Detail, want) {
					t.Errorf("warning %q lacks %q", ws[0].Detail, want)
				}
			}
		})
	}
}

func TestWarningString(t *testing.T) {
	p := Problem{Field: "status.listen", Summary: "Status page not served", Detail: "Why."}
	if got, want := (Warning{At: "site.hcl:4:21", Problem: p}).String(), "site.hcl:4:21: Status page not served: Why."; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if got, want := (Warning{Problem: p}).String(), "Status page not served: Why."; got != want {
		t.Errorf("String() without At = %q, want %q", got, want)
	}
}

func TestWarnEphemeralPorts(t *testing.T) {
	for _, tt := range []struct {
		ports []int
		want  string // "" for no warning
	}{
		{[]int{9001, 9002}, ""},
		{[]int{32767}, ""},
		{[]int{61000}, ""},
		{[]int{9001, 32768, 40000}, "2 of the ports (the first: 32768)"},
		{[]int{60999}, "1 of the ports (the first: 60999)"},
	} {
		s := valid()
		s.Mode = Proxy
		s.Backend = &Backend{Address: "127.0.0.1:{port}", Ports: tt.ports}
		ws := s.Warnings()
		if tt.want == "" {
			if ws != nil {
				t.Errorf("ports %v: Warnings() = %v, want none", tt.ports, ws)
			}
			continue
		}
		if len(ws) != 1 || ws[0].Field != "backend.ports" || !strings.Contains(ws[0].Detail, tt.want) {
			t.Errorf("ports %v: Warnings() = %#v, want one about backend.ports saying %q", tt.ports, ws, tt.want)
		}
	}
}
