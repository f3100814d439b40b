"""Flexibility: a grid-service module (issue 10). See keeper.py."""
