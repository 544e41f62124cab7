"""The board-side agent: the files uploaded to a board (or built into a twin's firmware)."""

from __future__ import annotations

from pathlib import Path

AGENT_DIR = Path(__file__).resolve().parent
# The agent first, then what it imports from beside it (the codec, the backends).
AGENT_FILES = (
    "think_agent.py",
    "think_frames.py",
    "think_backends.py",
    "think_exec.py",
    "think_layout.py",
    "think_pipeline.py",
    "think_sensors.py",
)
