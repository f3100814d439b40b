"""Reputation: a score per participant from how well it kept its word (issue 4)."""
