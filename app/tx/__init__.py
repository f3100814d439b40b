"""Transactions: wire format, signing and stateless checks (DESIGN.md section 3)."""
