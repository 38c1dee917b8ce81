"""Pseudonymisation and differential privacy (pure domain: no web, no database imports)."""
