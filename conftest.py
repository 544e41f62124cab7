"""Repository-level pytest configuration.

The plugin loads through its ``pytest11`` entry point (pyproject.toml), which also brings the
options this repository's suites use (``--board``, ``--emulate``, ``--run-slow`` …); the
suites' own fixtures are in test_suites/conftest.py and the project's tests' in
tests/conftest.py. Nothing else is configured here, so a lab's repository behaves as this one.
"""
