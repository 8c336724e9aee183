"""Real sshd servers for the tests (filled in by its owner)."""
