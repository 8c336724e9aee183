"""Real smtp servers for the tests (filled in by its owner)."""
