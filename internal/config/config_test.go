package config

import "testing"

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want Size
	}{
		{"0", 0}, {"4096", 4096}, {"10B", 10}, {"1K", 1024}, {"1KB", 1000},
		{"512MiB", 512 << 20}, {"1G", 1 << 30}, {"1.5GiB", 3 << 29}, {"2TB", 2e12},
	}
	for _, tt := range tests {
		got, err := ParseSize(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "G", "1 parsec", "-1M", "1.2.3K", "99999999T"} {
		if _, err := ParseSize(bad); err == nil {
			t.Errorf("ParseSize(%q): no error", bad)
		}
	}
}

func TestSizeString(t *testing.T) {
	for in, want := range map[Size]string{1 << 30: "1G", 1536 << 20: "1536M", 1000: "1000", 3 << 40: "3T"} {
		if got := in.String(); got != want {
			t.Errorf("Size(%d).String() = %q, want %q", in, got, want)
		}
	}
}
