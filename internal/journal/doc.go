// Package journal writes the broker's events to systemd's journal as
// structured entries (systemd.journal-fields(7)), and gives workers journal
// streams of their own. Every field zsm writes is named here, once: an
// event's kind becomes ZSM_EVENT= with a MESSAGE_ID= of its own, so that
// `journalctl ZSM_SITE=blog ZSM_EVENT=worker-crashed` or `journalctl
// MESSAGE_ID=...` find them.
//
// Entries go over journald's native protocol ([Writer], "Native Journal
// Protocol" in systemd's documentation), one datagram each, with a
// deadline: a journald that stops reading costs entries, never the
// broker's time.
//
// For `zsm status`, [UnitError] reads back what systemd logged when a
// site's socket unit failed.
package journal
