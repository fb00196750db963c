package statuspage

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/zsm-dev/zsm/internal/status"
)

func TestRoutes(t *testing.T) {
	tests := []struct {
		name, method, target string
		wantCode             int
		wantType             string // Content-Type, when 200
	}{
		{"page", http.MethodGet, "/", 200, "text/html; charset=utf-8"},
		{"json query", http.MethodGet, "/?json", 200, "application/json"},
		{"json query with value", http.MethodGet, "/?json=1", 200, "application/json"},
		{"json file", http.MethodGet, "/status.json", 200, "application/json"},
		{"metrics", http.MethodGet, "/metrics", 200, "text/plain; version=0.0.4; charset=utf-8"},
		{"other query is the page", http.MethodGet, "/?x=1", 200, "text/html; charset=utf-8"},
		{"head page", http.MethodHead, "/", 200, "text/html; charset=utf-8"},
		{"head metrics", http.MethodHead, "/metrics", 200, "text/plain; version=0.0.4; charset=utf-8"},
		{"unknown path", http.MethodGet, "/index.html", 404, ""},
		{"json elsewhere", http.MethodGet, "/metrics/?json", 404, ""},
		{"post", http.MethodPost, "/", 405, ""},
		{"put metrics", http.MethodPut, "/metrics", 405, ""},
		{"delete json", http.MethodDelete, "/status.json", 405, ""},
		{"options", http.MethodOptions, "/", 405, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			h := Handler(func(context.Context) ([]status.Site, error) {
				calls.Add(1)
				return host(), nil
			})
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.target, nil))
			resp := rec.Result()
			if resp.StatusCode != tt.wantCode {
				t.Fatalf("%s %s: status %d, want %d", tt.method, tt.target, resp.StatusCode, tt.wantCode)
			}
			b := body(t, resp)
			switch tt.wantCode {
			case http.StatusOK:
				if ct := resp.Header.Get("Content-Type"); ct != tt.wantType {
					t.Errorf("Content-Type %q, want %q", ct, tt.wantType)
				}
				if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
					t.Errorf("Cache-Control %q, want no-store", cc)
				}
				if calls.Load() != 1 {
					t.Errorf("source called %d times, want once", calls.Load())
				}
				if tt.method == http.MethodHead {
					if b != "" {
						t.Errorf("HEAD has a body: %.80q", b)
					}
					if resp.Header.Get("Content-Length") == "" || resp.Header.Get("Content-Length") == "0" {
						t.Errorf("HEAD Content-Length %q, want the GET body's length", resp.Header.Get("Content-Length"))
					}
				} else if b == "" {
					t.Error("empty body")
				}
			case http.StatusMethodNotAllowed:
				if a := resp.Header.Get("Allow"); a != "GET, HEAD" {
					t.Errorf("Allow %q, want GET, HEAD", a)
				}
				if calls.Load() != 0 {
					t.Errorf("source called for %s", tt.method)
				}
			case http.StatusNotFound:
				if calls.Load() != 0 {
					t.Error("source called for an unknown path")
				}
			}
		})
	}
}

func TestHeadLengthMatchesGet(t *testing.T) {
	h := newHandler(fixed(host()...), func() time.Time { return testNow })
	for _, target := range []string{"/", "/?json", "/metrics"} {
		g := get(t, h, target)
		n := len(body(t, g))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodHead, target, nil))
		if got := rec.Result().Header.Get("Content-Length"); got != g.Header.Get("Content-Length") || got != strconv.Itoa(n) {
			t.Errorf("%s: HEAD Content-Length %q, GET %q, GET body %d bytes", target, got, g.Header.Get("Content-Length"), n)
		}
	}
}

func TestSourceError(t *testing.T) {
	const msg = "busapi: no session bus (neither DBUS_SESSION_BUS_ADDRESS nor XDG_RUNTIME_DIR)"
	h := Handler(func(context.Context) ([]status.Site, error) { return nil, errors.New(msg) })
	for _, target := range []string{"/", "/?json", "/status.json", "/metrics"} {
		resp := get(t, h, target)
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("%s: status %d, want 503", target, resp.StatusCode)
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
			t.Errorf("%s: Content-Type %q, want text/plain", target, ct)
		}
		if b := body(t, resp); strings.TrimSpace(b) != msg {
			t.Errorf("%s: body %q, want %q", target, b, msg)
		}
	}
}

func TestSourceGetsRequestContext(t *testing.T) {
	type key struct{}
	var got any
	h := Handler(func(ctx context.Context) ([]status.Site, error) {
		got = ctx.Value(key{})
		return nil, nil
	})
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req = req.WithContext(context.WithValue(req.Context(), key{}, "mine"))
	h.ServeHTTP(httptest.NewRecorder(), req)
	if got != "mine" {
		t.Errorf("source saw context value %v, want the request's", got)
	}
}

// TestInputUntouched: the handler sorts a copy, never the source's slice.
func TestInputUntouched(t *testing.T) {
	in := host()
	want := host()
	h := Handler(fixed(in...))
	for _, target := range []string{"/", "/?json", "/metrics"} {
		get(t, h, target)
	}
	if diff := cmp.Diff(want, in); diff != "" {
		t.Errorf("source's slice changed (-want +got):\n%s", diff)
	}
}

func TestJSONRoundTrip(t *testing.T) {
	tests := []struct {
		name  string
		sites []status.Site
	}{
		{"host", host()},
		{"one", []status.Site{runningSite()}},
		{"empty", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// What a client gets back is the input, sorted by site, with
			// Workers [] rather than null.
			want := slices.Clone(tt.sites)
			slices.SortFunc(want, func(a, b status.Site) int { return strings.Compare(a.Site, b.Site) })
			for i := range want {
				if want[i].Workers == nil {
					want[i].Workers = []status.Worker{}
				}
			}
			if want == nil {
				want = []status.Site{}
			}
			h := Handler(fixed(tt.sites...))
			var bodies []string
			for _, target := range []string{"/?json", "/status.json"} {
				b := body(t, get(t, h, target))
				bodies = append(bodies, b)
				var got []status.Site
				if err := json.Unmarshal([]byte(b), &got); err != nil {
					t.Fatalf("%s: %v\n%s", target, err, b)
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("%s: round trip differs (-want +got):\n%s", target, diff)
				}
			}
			if bodies[0] != bodies[1] {
				t.Error("/?json and /status.json differ")
			}
		})
	}
}

// TestJSONFieldNames pins the field names doc.go documents: clients rely
// on them.
func TestJSONFieldNames(t *testing.T) {
	b := body(t, get(t, Handler(fixed(runningSite(), coldSite())), "/status.json"))
	var got []map[string]json.RawMessage
	if err := json.Unmarshal([]byte(b), &got); err != nil {
		t.Fatal(err)
	}
	siteFields := []string{"Accepted", "Active", "Breaker", "Events", "Failed", "Generation", "LastError", "LogDropped", "Mode",
		"Queued", "Requests", "RequestsPerSec", "Restarts", "Served", "Shed", "Site", "State", "Version", "Workers"}
	workerFields := []string{"Busy", "Held", "Pid", "RSS", "Requests", "Served", "Started", "State"}
	// What a broker adds when it knows: its sockets' accept queues, and
	// the latency histograms where it accepts.
	brokerFields := slices.Sorted(slices.Values(append(slices.Clone(siteFields), "HandoffLatency", "Listeners", "QueueWait")))
	for _, s := range got {
		want := siteFields
		if string(s["Site"]) == `"blog"` {
			want = brokerFields
		}
		if diff := cmp.Diff(want, slices.Sorted(maps.Keys(s))); diff != "" {
			t.Errorf("site fields (-want +got):\n%s", diff)
		}
		var workers []map[string]json.RawMessage
		if err := json.Unmarshal(s["Workers"], &workers); err != nil || workers == nil {
			t.Errorf("Workers = %s, want an array (err %v)", s["Workers"], err)
		}
		for _, w := range workers {
			if diff := cmp.Diff(workerFields, slices.Sorted(maps.Keys(w))); diff != "" {
				t.Errorf("worker fields (-want +got):\n%s", diff)
			}
		}
	}
	if !strings.Contains(b, `"Workers": []`) {
		t.Errorf("a cold site's Workers is not []:\n%s", b)
	}
}
