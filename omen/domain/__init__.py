"""The pure domain: events, signals, rules, enrichment. No I/O, no transport, no clock."""
