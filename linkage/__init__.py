"""Record linkage on pseudonymised records (pure domain: no web, no database imports)."""
