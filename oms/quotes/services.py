"""RFQ command handlers (see below)."""
