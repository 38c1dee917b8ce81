"""Ingest: extracts in, pseudonymised records out. Raw values live only in memory, briefly."""
