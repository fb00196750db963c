package main

import (
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestMedian(t *testing.T) {
	tests := []struct {
		name string
		xs   []float64
		want float64
	}{
		{name: "one", xs: []float64{7}, want: 7},
		{name: "odd, unsorted", xs: []float64{9, 1, 5}, want: 5},
		{name: "even: mean of the middle two", xs: []float64{4, 1, 3, 2}, want: 2.5},
		{name: "an outlier does not move it", xs: []float64{10, 11, 1000}, want: 11},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := append([]float64(nil), tt.xs...)
			if got := median(tt.xs); got != tt.want {
				t.Errorf("median(%v) = %v, want %v", tt.xs, got, tt.want)
			}
			if diff := cmp.Diff(in, tt.xs); diff != "" {
				t.Errorf("median modified its input (-before +after):\n%s", diff)
			}
		})
	}
	if got := median(nil); !math.IsNaN(got) {
		t.Errorf("median(nil) = %v, want NaN", got)
	}
	if got := medianDuration([]time.Duration{3, 1, 2}); got != 2 {
		t.Errorf("medianDuration = %v, want 2", got)
	}
	if got := medianDuration(nil); got != 0 {
		t.Errorf("medianDuration(nil) = %v, want 0", got)
	}
}

func TestPercentile(t *testing.T) {
	var sorted []time.Duration
	for i := 1; i <= 100; i++ {
		sorted = append(sorted, time.Duration(i))
	}
	for _, tt := range []struct {
		p    float64
		want time.Duration
	}{{50, 50}, {99, 99}, {100, 100}, {0.1, 1}} {
		if got := percentile(sorted, tt.p); got != tt.want {
			t.Errorf("percentile(1..100, %v) = %v, want %v", tt.p, got, tt.want)
		}
	}
	if got := percentile([]time.Duration{5}, 99); got != 5 {
		t.Errorf("percentile of one = %v, want 5", got)
	}
	if got := percentile(nil, 50); got != 0 {
		t.Errorf("percentile(nil) = %v, want 0", got)
	}
}

func TestRatio(t *testing.T) {
	if got := ratio(3, 2); got != 1.5 {
		t.Errorf("ratio(3, 2) = %v", got)
	}
	for _, tt := range [][2]float64{{1, 0}, {math.NaN(), 1}, {1, math.NaN()}, {1, math.Inf(1)}, {-1, 1}} {
		if got := ratio(tt[0], tt[1]); !math.IsNaN(got) {
			t.Errorf("ratio(%v, %v) = %v, want NaN", tt[0], tt[1], got)
		}
	}
}

func TestRotate(t *testing.T) {
	xs := []string{"a", "b", "c"}
	want := [][]string{{"a", "b", "c"}, {"b", "c", "a"}, {"c", "a", "b"}, {"a", "b", "c"}}
	for r, w := range want {
		if diff := cmp.Diff(w, rotate(xs, r)); diff != "" {
			t.Errorf("rotate(round %d) (-want +got):\n%s", r, diff)
		}
	}
	if diff := cmp.Diff([]string{"a", "b", "c"}, xs); diff != "" {
		t.Errorf("rotate modified its input:\n%s", diff)
	}
	if got := rotate([]string(nil), 2); got != nil {
		t.Errorf("rotate(nil) = %v", got)
	}
}

func TestPairedRatios(t *testing.T) {
	run := func(rps float64) loadResult { return loadResult{ReqPerSec: rps} }
	rounds := []map[string]loadResult{
		{"proxy": run(90), "haproxy": run(100)},
		{"proxy": run(110)}, // haproxy failed this round: no pair
		{"proxy": run(105), "haproxy": run(100), "haproxy-splice": run(1)},
		{"proxy": run(50), "haproxy": run(0)}, // no ratio to zero
	}
	got := pairedRatios(rounds, "proxy", "haproxy")
	if diff := cmp.Diff([]float64{0.9, 1.05}, got); diff != "" {
		t.Errorf("pairedRatios (-want +got):\n%s", diff)
	}
}

func TestSpread(t *testing.T) {
	for _, tt := range []struct {
		xs   []float64
		want string
	}{{[]float64{1.05, 0.9, 1}, "0.90–1.05×"}, {[]float64{1}, "1.00×"}, {nil, ""}} {
		if s := spread(tt.xs); s != tt.want {
			t.Errorf("spread(%v) = %q, want %q", tt.xs, s, tt.want)
		}
	}
}
