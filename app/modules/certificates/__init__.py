"""Certificates: renewable energy certificates (issue 11). See keeper.py."""
