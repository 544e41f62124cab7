"""Twins of the board families, each under the name of the family it imitates
(``pytest_think/families/<name>.py``): the tools, files and processes that family's boards
have, added to a board twin as `TwinPart` plug-ins."""
