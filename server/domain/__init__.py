"""Plain rules with no I/O: conversation modes, handoff policy."""
