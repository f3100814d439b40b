"""The microgrid ABCI application (DESIGN.md section 5)."""

__version__ = "0.1.0"
