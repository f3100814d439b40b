"""ICS-03 connections: the handshake that pairs a client here with one there."""
