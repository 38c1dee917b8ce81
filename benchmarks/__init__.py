"""Benchmarks for hsclink (run as scripts; see benchmarks/README.md)."""
