"""Outgoing mail behind one interface; `files.py` keeps it on disk (offline)."""
