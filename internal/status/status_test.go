package status

import (
	"math"
	"testing"
)

// TestHistogramBound: the bound of the bucket where a quantile falls,
// +Inf above every bound, and nothing for an empty histogram.
func TestHistogramBound(t *testing.T) {
	h := Histogram{Bounds: []float64{0.001, 0.01, 1}, Counts: []uint64{90, 9, 0, 1}}
	for _, tc := range []struct {
		q    float64
		want float64
	}{{0.5, 0.001}, {0.9, 0.001}, {0.95, 0.01}, {0.99, 0.01}, {1, math.Inf(1)}} {
		if got, ok := h.Bound(tc.q); !ok || got != tc.want {
			t.Errorf("Bound(%v) = %v, %v; want %v", tc.q, got, ok, tc.want)
		}
	}
	if h.Count() != 100 {
		t.Errorf("Count = %d, want 100", h.Count())
	}
	if _, ok := (Histogram{}).Bound(0.99); ok {
		t.Error("an empty histogram has a bound")
	}
}
