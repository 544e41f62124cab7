"""The twin of the board's own power monitors (``pytest_think/power/onboard.py`` reads them)."""
