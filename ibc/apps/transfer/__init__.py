"""ICS-20 fungible token transfer (port "transfer")."""
