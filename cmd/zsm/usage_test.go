package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// usageNames returns the commands and the flags that usage names.
func usageNames(usage string) (commands, flags []string) {
	for _, m := range regexp.MustCompile(`(?m)^  ([a-z]+)\b`).FindAllStringSubmatch(usage, -1) {
		commands = append(commands, m[1])
	}
	return commands, regexp.MustCompile(`--[a-z][a-z-]*`).FindAllString(usage, -1)
}

// TestUsageDocumented: zsm(1) and the completions of every shell name
// each command and flag of zsm's usage, so that a new one cannot be
// forgotten there.
func TestUsageDocumented(t *testing.T) {
	commands, flags := usageNames(usage)
	if len(commands) < 5 || len(flags) < 8 {
		t.Fatalf("read %d commands and %d flags from the usage: its format changed?", len(commands), len(flags))
	}
	docs := map[string]string{
		"contrib/man/zsm.1":                "roff",
		"contrib/completion/bash/zsm":      "bash",
		"contrib/completion/zsh/_zsm":      "zsh",
		"contrib/completion/fish/zsm.fish": "fish",
	}
	for path, kind := range docs {
		b, err := os.ReadFile(filepath.Join("..", "..", path))
		if err != nil {
			t.Fatal(err)
		}
		text := strings.ReplaceAll(string(b), `\-`, "-") // roff's minus
		for _, c := range commands {
			if !regexp.MustCompile(`\b` + c + `\b`).MatchString(text) {
				t.Errorf("%s does not name the command %s", path, c)
			}
		}
		for _, f := range flags {
			want := f
			if kind == "fish" {
				want = "-l " + strings.TrimPrefix(f, "--") // complete -l NAME
			}
			if !regexp.MustCompile(regexp.QuoteMeta(want) + `\b`).MatchString(text) {
				t.Errorf("%s does not name the flag %s", path, f)
			}
		}
	}
}
