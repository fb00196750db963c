package main

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"text/template"
)

// printScenario writes a scenario's tables as aligned text.
func printScenario(w io.Writer, sc *Scenario) {
	fmt.Fprintf(w, "\n## %s\n", sc.Title)
	printTables(w, sc)
}

// printTables writes what a scenario says and its tables.
func printTables(w io.Writer, sc *Scenario) {
	for _, n := range sc.Notes {
		fmt.Fprintf(w, "%s\n", n)
	}
	if sc.Skipped != "" {
		fmt.Fprintf(w, "skipped: %s\n", sc.Skipped)
	}
	if sc.Error != "" {
		fmt.Fprintf(w, "FAILED: %s\n", sc.Error)
	}
	for _, t := range sc.Tables {
		if t.Title != "" {
			fmt.Fprintf(w, "\n%s\n", t.Title)
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, strings.Join(t.Header, "\t"))
		for _, r := range t.Rows {
			fmt.Fprintln(tw, strings.Join(r, "\t"))
		}
		tw.Flush()
		for _, n := range t.Notes {
			fmt.Fprintf(w, "  %s\n", n)
		}
	}
}

// summaryTable lists every target with its figure.
func summaryTable(r *Results) *Table {
	t := &Table{Header: []string{"figure", "value", "target", "met"}}
	for _, sc := range r.Scenarios {
		for _, f := range sc.Figures {
			if f.Target == nil {
				continue
			}
			v, met := "not measured", "?"
			if f.Value != nil {
				v = f.Target.format(*f.Value, f.Unit)
			}
			if f.Pass != nil {
				met = "✓"
				if !*f.Pass {
					met = "✗ missed"
				}
			}
			t.row(f.ID, v, f.Target.Text, met)
		}
	}
	return t
}

// printSummary writes every target and whether it was met.
func printSummary(w io.Writer, r *Results) {
	s := r.Summary
	fmt.Fprintf(w, "\n## Targets: %d met, %d missed, %d not measured (of %d)\n", s.Met, s.Missed, s.NotMeasured, s.Targets)
	printTables(w, &Scenario{Tables: []*Table{summaryTable(r)}})
}

// writeJSON writes r to path, atomically.
func writeJSON(path string, r *Results) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("results: %w", err)
	}
	return writeFile(path, append(b, '\n'))
}

//go:embed benchmarks.md.tmpl
var markdownTemplate string

// notes is the hand-written section "Where targets are missed", as it was
// when this binary was built.
//
//go:embed notes.md
var notes string

// writeMarkdown renders BENCHMARKS.md to path, with notes (notes.md).
func writeMarkdown(path string, r *Results, notes string) error {
	t, err := template.New("BENCHMARKS.md").Funcs(template.FuncMap{
		"table":   markdownTable,
		"summary": func() *Table { return summaryTable(r) },
		"join":    strings.Join,
	}).Parse(markdownTemplate)
	if err != nil {
		return fmt.Errorf("markdown template: %w", err)
	}
	var b strings.Builder
	err = t.Execute(&b, struct {
		*Results
		Notes string
	}{r, notesBody(notes)})
	if err != nil {
		return fmt.Errorf("markdown template: %w", err)
	}
	return writeFile(path, []byte(b.String()))
}

// notesBody is notes.md without its leading HTML comment (the note to
// whoever edits it).
func notesBody(s string) string {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "<!--") {
		if _, rest, ok := strings.Cut(s, "-->"); ok {
			s = strings.TrimSpace(rest)
		}
	}
	return s
}

// markdownTable renders t as a GitHub table.
func markdownTable(t *Table) string {
	var b strings.Builder
	if t.Title != "" {
		fmt.Fprintf(&b, "**%s**\n\n", t.Title)
	}
	cell := func(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
	line := func(cells []string) {
		b.WriteString("|")
		for _, c := range cells {
			b.WriteString(" " + cell(c) + " |")
		}
		b.WriteString("\n")
	}
	line(t.Header)
	sep := make([]string, len(t.Header))
	for i := range sep {
		sep[i] = "---"
	}
	line(sep)
	for _, r := range t.Rows {
		line(r)
	}
	if len(t.Notes) > 0 {
		b.WriteString("\n")
		for _, n := range t.Notes {
			fmt.Fprintf(&b, "%s\n", n)
		}
	}
	return b.String()
}

// writeFile writes b to path through a temp file and a rename.
func writeFile(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// render rewrites the markdown report from the JSON results of an earlier
// run and bench/notes.md as it is on disk now (-render).
func render(root string, opts options, stderr io.Writer) error {
	if opts.jsonPath == "" || opts.mdPath == "" {
		return errors.New("-render needs -json and -md")
	}
	b, err := os.ReadFile(opts.jsonPath)
	if err != nil {
		return err
	}
	var r Results
	if err := json.Unmarshal(b, &r); err != nil {
		return fmt.Errorf("%s: %w", opts.jsonPath, err)
	}
	if len(r.Scenarios) > 0 && r.Scenarios[0].Tables == nil {
		return fmt.Errorf("%s has no tables: it was written before -render existed; run the bench again", opts.jsonPath)
	}
	n, err := os.ReadFile(filepath.Join(root, "bench", "notes.md"))
	if err != nil {
		return err
	}
	if err := writeMarkdown(opts.mdPath, &r, string(n)); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "wrote %s from %s\n", opts.mdPath, opts.jsonPath)
	return nil
}
