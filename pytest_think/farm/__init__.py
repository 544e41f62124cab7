"""Board farms: boards that live in labgrid places.

A board file's `labgrid:` section names the place (or the tags to reserve one by); the
`LabgridPlaces` endpoint provider reserves and acquires it for the session, rewires the board
file to the place's resources (NetworkService → ssh, NetworkSerialPort → serial and console,
NetworkPowerPort → power) and releases it at the end. labgrid is an optional extra
(``pip install 'pytest-think[farm]'``); nothing here imports it until a place is reached.
"""

from __future__ import annotations

__all__ = ["INSTALL_HINT"]

INSTALL_HINT = "pip install 'pytest-think[farm]'"
