"""Registry: participants, their buses and meters, and the chain's authorities."""
