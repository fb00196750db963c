package config

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestParseAddress(t *testing.T) {
	tests := []struct {
		in   string
		want Address
	}{
		{"127.0.0.1:8080", Address{Net: NetTCP, Host: "127.0.0.1", Port: 8080}},
		{"[::1]:80", Address{Net: NetTCP, Host: "::1", Port: 80}},
		{"[::]:80", Address{Net: NetTCP, Host: "::", Port: 80}},
		{":80", Address{Net: NetTCP, Port: 80}},
		{"unix:a.sock", Address{Net: NetUnix, Path: "a.sock"}},
		{"unix:/run/a b.sock", Address{Net: NetUnix, Path: "/run/a b.sock"}},
	}
	for _, tt := range tests {
		got, err := ParseAddress(tt.in)
		if err != nil {
			t.Errorf("ParseAddress(%q): %v", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseAddress(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
		// String gives back what parses to the same address.
		if again, err := ParseAddress(got.String()); err != nil || again != got {
			t.Errorf("round trip of %q through %q: %+v, %v", tt.in, got.String(), again, err)
		}
	}
}

func TestAddressConflicts(t *testing.T) {
	a := func(s string) Address {
		x, err := ParseAddress(s)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	tests := []struct {
		a, b string
		want bool
	}{
		{"127.0.0.1:80", "127.0.0.1:80", true},
		{"127.0.0.1:80", "127.0.0.2:80", false},
		{"127.0.0.1:80", ":80", true},
		{"[::]:80", "[::1]:80", true},
		{"127.0.0.1:80", "127.0.0.1:81", false},
		{"unix:a", "unix:a", true},
		{"unix:a", "unix:b", false},
	}
	for _, tt := range tests {
		if got := a(tt.a).Conflicts(a(tt.b)); got != tt.want {
			t.Errorf("%s.Conflicts(%s) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestParseAddressErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"localhost:80", "literal IP"},
		{"127.0.0.1", "want HOST:PORT"},
		{"1.2.3.4:99999", "from 1 to 65535"},
		{"1.2.3.4:0", "from 1 to 65535"},
		{"::1:80", "in brackets"},
		{"[fe80::1%eth0]:80", "literal IP"},
		{"unix:", "path is empty"},
		{"unix:@abs", "abstract"},
		{"unix:a\x00b", "NUL"},
		{"unix:/" + strings.Repeat("s", MaxSocketPath), "at most 107 bytes"},
	} {
		_, err := ParseAddress(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseAddress(%q) = %v, want an error containing %q", tc.in, err, tc.want)
		}
	}
	if _, err := ParseAddress("unix:/" + strings.Repeat("s", MaxSocketPath-1)); err != nil {
		t.Errorf("a socket path of %d bytes: %v", MaxSocketPath, err)
	}
}

func TestAddressValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		a    Address
		want string // "" for valid
	}{
		{"tcp", Address{Net: NetTCP, Host: "127.0.0.1", Port: 80}, ""},
		{"every interface", Address{Net: NetTCP, Port: 80}, ""},
		{"unix relative", Address{Net: NetUnix, Path: "a.sock"}, ""},
		{"port zero", Address{Net: NetTCP, Port: 0}, "from 1 to 65535"},
		{"port too large", Address{Net: NetTCP, Port: 65536}, "from 1 to 65535"},
		{"host name", Address{Net: NetTCP, Host: "localhost", Port: 80}, "literal IP"},
		{"zone", Address{Net: NetTCP, Host: "fe80::1%eth0", Port: 80}, "literal IP"},
		{"empty path", Address{Net: NetUnix}, "path is empty"},
		{"unknown network", Address{Net: "udp", Port: 53}, `unknown network "udp"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.a.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("Validate() = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestAddressSet: Conflict finds the first address added that
// Address.Conflicts with, as comparing with each would.
func TestAddressSet(t *testing.T) {
	hosts := []string{"", "0.0.0.0", "::", "127.0.0.1", "127.0.0.2", "::1"}
	r := rand.New(rand.NewPCG(3, 4))
	random := func() Address {
		if r.IntN(4) == 0 {
			return Address{Net: NetUnix, Path: []string{"a.sock", "b.sock", "/run/c.sock"}[r.IntN(3)]}
		}
		return Address{Net: NetTCP, Host: hosts[r.IntN(len(hosts))], Port: 1 + r.IntN(4)}
	}
	for range 200 {
		var set AddressSet
		var added []Address
		for range 20 {
			a := random()
			want := slices.IndexFunc(added, a.Conflicts)
			if got := set.Conflict(a); got != want {
				t.Fatalf("after %v, Conflict(%v) = %d, want %d", added, a, got, want)
			}
			set.Add(a)
			added = append(added, a)
		}
	}
}
