"""ABCI 2.0 (CometBFT v0.38) over the socket transport (DESIGN.md section 3)."""
