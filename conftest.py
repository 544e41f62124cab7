"""Repository-level pytest configuration (the plugin itself loads through its entry point)."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--run-slow", action="store_true", default=False, help="also run suites marked slow"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="slow suite: run with --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
