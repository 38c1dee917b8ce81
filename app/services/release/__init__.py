"""Differentially private release: the privacy ledger, budgets, projects and queries."""
