package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The files in testdata/wrk are real output of wrk 4.1.0 (Debian 12)
// against contrib/workers/hello and small Python servers.
func TestParseWrk(t *testing.T) {
	us := func(v float64) time.Duration { return time.Duration(v * float64(time.Microsecond)) }
	ms := func(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }
	tests := []struct {
		file string
		want loadResult
	}{
		{
			file: "keepalive.txt",
			want: loadResult{Requests: 181519, Elapsed: ms(2100), ReqPerSec: 86443.30, P50: us(77), P99: ms(3.37)},
		},
		{
			file: "newconn.txt",
			want: loadResult{Requests: 54115, Elapsed: ms(2000), ReqPerSec: 27038.05, P50: us(162), P99: ms(1.94)},
		},
		{
			file: "non2xx.txt",
			want: loadResult{Requests: 1832, Elapsed: ms(1000), ReqPerSec: 1830.13, P50: ms(2.02), P99: ms(7.07),
				Errors: errorCounts{Status: 1832}},
		},
		{
			file: "sockerr.txt",
			want: loadResult{Requests: 26499, Elapsed: ms(2000), ReqPerSec: 13238.96, P50: us(171), P99: ms(2.77),
				Errors: errorCounts{Read: 4, Write: 781}},
		},
		{
			file: "timeout.txt",
			want: loadResult{Requests: 40, Elapsed: ms(3010), ReqPerSec: 13.30, P50: ms(52.02), P99: ms(344.10),
				Errors: errorCounts{Timeout: 7}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", "wrk", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			got, err := parseWrk(string(b))
			if err != nil {
				t.Fatal(err)
			}
			// Parsed floats: compare times to the microsecond.
			round := func(d time.Duration) time.Duration { return d.Round(time.Microsecond) }
			got.Elapsed, got.P50, got.P99 = round(got.Elapsed), round(got.P50), round(got.P99)
			tt.want.Elapsed, tt.want.P50, tt.want.P99 = round(tt.want.Elapsed), round(tt.want.P50), round(tt.want.P99)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("parseWrk (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseWrkErrors(t *testing.T) {
	refused, err := os.ReadFile(filepath.Join("testdata", "wrk", "refused.txt"))
	if err != nil {
		t.Fatal(err)
	}
	keep, err := os.ReadFile(filepath.Join("testdata", "wrk", "keepalive.txt"))
	if err != nil {
		t.Fatal(err)
	}
	noLatency := string(keep)
	for _, line := range []string{"  Latency Distribution\n", "     50%   77.00us\n", "     99%    3.37ms\n"} {
		if !strings.Contains(noLatency, line) {
			t.Fatalf("keepalive.txt has no line %q", line)
		}
		noLatency = strings.Replace(noLatency, line, "", 1)
	}
	for name, out := range map[string]string{
		"connection refused": string(refused),
		"empty":              "",
		"without --latency":  noLatency,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := parseWrk(out); !errors.Is(err, errWrkOutput) {
				t.Errorf("parseWrk = %v, want %v", err, errWrkOutput)
			}
		})
	}
}

func TestWrkTime(t *testing.T) {
	for _, tt := range []struct {
		num, unit string
		want      time.Duration
	}{
		{"77.00", "us", 77 * time.Microsecond},
		{"3.37", "ms", 3370 * time.Microsecond},
		{"2.10", "s", 2100 * time.Millisecond},
		{"1.50", "m", 90 * time.Second},
		{"1.00", "h", time.Hour},
	} {
		if got := wrkTime(tt.num, tt.unit).Round(time.Microsecond); got != tt.want {
			t.Errorf("wrkTime(%s, %s) = %v, want %v", tt.num, tt.unit, got, tt.want)
		}
	}
}

func TestWrkDuration(t *testing.T) {
	for d, want := range map[time.Duration]int{
		300 * time.Millisecond:  1,
		time.Second:             1,
		1500 * time.Millisecond: 2,
		3 * time.Second:         3,
	} {
		if got := wrkDuration(d); got != want {
			t.Errorf("wrkDuration(%v) = %d, want %d", d, got, want)
		}
	}
}
