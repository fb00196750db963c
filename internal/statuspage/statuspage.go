package statuspage

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"html/template"
	"io"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/zsm-dev/zsm/internal/status"
)

// Content types of the three views.
const (
	contentTypeHTML    = "text/html; charset=utf-8"
	contentTypeJSON    = "application/json"
	contentTypeMetrics = "text/plain; version=0.0.4; charset=utf-8"
)

// handler serves the views of what source returns.
type handler struct {
	source  func(ctx context.Context) ([]status.Site, error)
	now     func() time.Time
	page    *template.Template
	history *History // the graphs' data; nil: no graphs
}

// Handler returns the status pages of the sites source returns: one site
// for a site's own page, or every site on the host. source is called once
// per request, with the request's context. The package comment lists the
// paths.
func Handler(source func(ctx context.Context) ([]status.Site, error)) http.Handler {
	return newHandler(source, time.Now)
}

// HandlerWithHistory is Handler with graphs of the last 15 minutes on
// the page, drawn from history (which the caller fills, e.g. with
// History.Run on the same source).
func HandlerWithHistory(source func(ctx context.Context) ([]status.Site, error), history *History) http.Handler {
	h := newHandler(source, time.Now)
	h.history = history
	return h
}

// newHandler is Handler with a clock, for tests.
func newHandler(source func(ctx context.Context) ([]status.Site, error), now func() time.Time) *handler {
	return &handler{source: source, now: now, page: newPage()}
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed: only GET and HEAD", http.StatusMethodNotAllowed)
		return
	}
	var (
		contentType string
		write       func(w io.Writer, sites []status.Site, now time.Time) error
	)
	switch p := r.URL.Path; {
	case p == "/status.json", (p == "/" || p == "") && r.URL.Query().Has("json"):
		contentType, write = contentTypeJSON, writeJSON
	case p == "/metrics":
		contentType, write = contentTypeMetrics, writeMetrics
	case p == "/" || p == "":
		contentType, write = contentTypeHTML, h.writeHTML
	default:
		http.NotFound(w, r)
		return
	}
	sites, err := h.source(r.Context())
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	var buf bytes.Buffer
	if err := write(&buf, normalize(sites), h.now()); err != nil {
		http.Error(w, "statuspage: "+err.Error(), http.StatusInternalServerError)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", contentType)
	hd.Set("Content-Length", strconv.Itoa(buf.Len()))
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(buf.Bytes())
	}
}

// normalize returns a copy of sites sorted by name, with Workers never nil.
// It does not modify sites.
func normalize(sites []status.Site) []status.Site {
	out := make([]status.Site, len(sites))
	for i, s := range sites {
		s.Workers = slices.Clone(s.Workers)
		if s.Workers == nil {
			s.Workers = []status.Worker{}
		}
		out[i] = s
	}
	slices.SortStableFunc(out, func(a, b status.Site) int { return cmp.Compare(a.Site, b.Site) })
	return out
}

// writeJSON writes sites as an indented JSON array.
func writeJSON(w io.Writer, sites []status.Site, _ time.Time) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(sites)
}
