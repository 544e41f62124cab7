"""The servers a twin answers on: SSH (the board), SCPI (its meter) and a pty (its console)."""
