"""The board-side agent: the files uploaded to a board (or built into a twin's firmware)."""

from __future__ import annotations

from pathlib import Path

AGENT_DIR = Path(__file__).resolve().parent
AGENT_FILES = ("think_agent.py", "think_frames.py")  # the agent, then the codec beside it
