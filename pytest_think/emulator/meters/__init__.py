"""Twins of the power meter drivers, each under the name of the driver it imitates
(``pytest_think/power/meters/<name>.py``): SCPI instruments served on loopback, measuring
the board twin's power."""
