"""Error reporting: Sentry when `SENTRY_DSN` is set, off otherwise (chosen in app.py)."""
