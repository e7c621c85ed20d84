"""Use cases: each service owns one concern and is built once in server/app.py."""
