"""Real databases servers for the tests (filled in by its owner)."""
