"""Accounts: each signer's public key and sequence (replay protection)."""
