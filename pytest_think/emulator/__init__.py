"""Digital twins: processes that speak a board's protocols and answer its commands.

Product code reaches a twin exactly as it reaches hardware; the only difference is the
endpoint that --emulate writes into the board configuration.
"""
