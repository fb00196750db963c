package main

import (
	"testing"

	"github.com/zsm-dev/zsm/internal/event"
	"github.com/zsm-dev/zsm/internal/journal"
)

// TestEveryEventHasAMessageID keeps the journal adapter in step with the
// broker's events.
func TestEveryEventHasAMessageID(t *testing.T) {
	for _, k := range event.Kinds() {
		if journal.MessageIDs[k] == "" {
			t.Errorf("event %q has no MESSAGE_ID in internal/journal", k)
		}
	}
	if len(journal.MessageIDs) != len(event.Kinds()) {
		t.Errorf("internal/journal names %d events, there are %d", len(journal.MessageIDs), len(event.Kinds()))
	}
}
