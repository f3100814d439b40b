"""Inter-microgrid energy trades (port "energy")."""
