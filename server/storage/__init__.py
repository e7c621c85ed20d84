"""Postgres adapters: the only place SQL lives. One module per table family."""
