"""The README's worked example, "Bring your own ONNX model", run as written: its files and
commands are taken from README.md (the blocks after the `byom` markers) and run in a
directory of their own, as a newcomer would."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from support import REPO, SESSION_TEST

MARKED = re.compile(r"<!-- byom: (?P<name>[\w.]+) -->\n```\w*\n(?P<body>.*?)```", re.S)


def readme_blocks() -> dict[str, str]:
    """The example's blocks by marker name: files to write, and `run`, the commands."""
    return {m["name"]: m["body"] for m in MARKED.finditer((REPO / "README.md").read_text())}


def test_the_readme_has_the_whole_example() -> None:
    assert set(readme_blocks()) == {"make_my_model.py", "test_my_model.py", "run"}


@SESSION_TEST
def test_bring_your_own_onnx_model_runs_as_written(tmp_path: Path) -> None:
    blocks = readme_blocks()
    commands = blocks.pop("run")
    for name, body in blocks.items():
        (tmp_path / name).write_text(body)
    # The virtualenv active: its python and pytest first on the PATH.
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", commands],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "think: board sim (family generic, digital twin)" in proc.stdout
    assert re.search(
        r"test_my_model_agrees_with_onnxruntime +passed +sim +200 +top1 1\.0000", proc.stdout
    )
    assert "1 passed" in proc.stdout
    assert (tmp_path / "results.json").is_file()
