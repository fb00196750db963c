package main

import (
	"testing"

	"github.com/zsm-dev/zsm/broker"
	"github.com/zsm-dev/zsm/internal/journal"
)

// TestEveryEventHasAMessageID keeps the journal adapter in step with the
// broker's events.
func TestEveryEventHasAMessageID(t *testing.T) {
	for _, ev := range broker.Events {
		if journal.MessageIDs[ev] == "" {
			t.Errorf("broker event %q has no MESSAGE_ID in internal/journal", ev)
		}
	}
	if len(journal.MessageIDs) != len(broker.Events) {
		t.Errorf("internal/journal names %d events, the broker %d", len(journal.MessageIDs), len(broker.Events))
	}
}
