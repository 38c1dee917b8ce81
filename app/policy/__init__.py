"""The policy decision point: Cedar policies from ``policies/``, deny by default."""
