"""Local stand-ins for outside services that tests talk to over 127.0.0.1 (never the network)."""
