package lines

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestWriter(t *testing.T) {
	var got []string
	w := NewWriter(func(l []byte) { got = append(got, string(l)) })
	long := strings.Repeat("x", Max+10)
	for _, s := range []string{"one\ntw", "o\nthree", long, "\n\nlast"} {
		if n, err := w.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	w.Flush()
	w.Flush() // nothing left
	want := []string{"one", "two", "three" + long[:Max-5], long[Max-5:], "", "last"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
}
