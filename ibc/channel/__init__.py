"""ICS-04 channels and packets: handshakes, send, receive, acknowledge, time out."""
