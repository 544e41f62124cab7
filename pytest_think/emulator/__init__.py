"""Digital twins: processes that speak a board's protocols and answer its commands.

Product code reaches a twin exactly as it reaches hardware; the only difference is the
endpoint that --emulate writes into the board configuration.

Layout: `launcher` (TwinProcess), `config` (the twin section), `parts` (the plug-in API),
`board` (the board twin), `device`, `activity`, `shell`, `sandbox`; `families/` and `meters/`
mirror the product's families and meter drivers; `power/` the onboard monitors; `servers/`
the SSH, SCPI and console servers.
"""
