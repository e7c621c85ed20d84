"""Local rooms, per-connection outboxes and fan-out over the broker."""
