"""State-sync snapshots (being built: issue 8)."""
