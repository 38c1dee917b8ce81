"""Authentication: who is calling (API tokens, web sessions, passwords)."""
