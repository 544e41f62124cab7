"""Designs: what a board runs (bitstream, overlay, …) bundled with the reference model it
implements. Tests name a design; the board's family knows how to load it.

A design file (``design.yaml``)::

    name: digits-mlp-zcu102
    family: xilinx-fpga            # the family that can load it
    description: digits MLP, 8-bit fixed point, 200 MHz
    reference: ../../models/digits_mlp.onnx
    files:                         # role -> file, relative to the design file
      bitstream: digits_mlp.bit.bin
      overlay: digits_mlp.dtbo
      model: digits_mlp_int8.onnx  # what the agent loads (the DPU runs it through Vitis AI)
    runtime:                       # how inference is invoked; read by the board's family
      providers: [VitisAIExecutionProvider, CPUExecutionProvider]

The design's identity is the sha256 over its files (roles, names and contents), so a board
that already runs the same design is not flashed again.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pytest_think.errors import InputFileError
from pytest_think.hashing import sha256_file
from pytest_think.user_files import field_problems, read_yaml_mapping

SEGMENT_ROLE = re.compile(r"^segment_(\d+)$")


class Design(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    family: str
    description: str = ""
    reference: Path | None = None
    files: dict[str, Path] = Field(default_factory=dict)
    # How inference is invoked (backend options, runner argv …); each family says what it reads.
    runtime: dict[str, Any] = Field(default_factory=dict)
    source: Path | None = Field(None, exclude=True)

    @property
    def sha256(self) -> str:
        digest = hashlib.sha256()
        for role, path in sorted(self.files.items()):
            digest.update(f"{role}\0{path.name}\0{sha256_file(path)}\n".encode())
        return digest.hexdigest()

    def file(self, role: str) -> Path:
        if role not in self.files:
            roles = ", ".join(sorted(self.files)) or "none"
            raise InputFileError(
                f"design file {self.source}: field 'files.{role}' is missing (has: {roles})"
            )
        return self.files[role]

    def model_roles(self) -> list[str]:
        """The model files in pipeline order: `model`, or `segment_0` … `segment_<N-1>` for a
        model cut in segments that run one after another (on one device each, where the
        family has several)."""
        segments = sorted(
            (int(m.group(1)), role) for role in self.files if (m := SEGMENT_ROLE.match(role))
        )
        if not segments:
            self.file("model")  # one clear line when neither is there
            return ["model"]
        if "model" in self.files:
            raise InputFileError(
                f"design file {self.source}: has both 'files.model' and segments; keep one"
            )
        numbers = [n for n, _ in segments]
        if numbers != list(range(len(numbers))):
            raise InputFileError(
                f"design file {self.source}: segments must be segment_0 … segment_"
                f"{len(numbers) - 1}, found {', '.join(r for _, r in segments)}"
            )
        return [role for _, role in segments]


def load_design(path: Path) -> Design:
    """Load a design file; missing files and bad fields are one line naming file and field."""
    data = read_yaml_mapping(path, f"design file {path}", InputFileError)
    base = path.parent
    if isinstance(data.get("reference"), str):
        data["reference"] = base / data["reference"]
    if isinstance(data.get("files"), dict):
        data["files"] = {k: base / v if isinstance(v, str) else v for k, v in data["files"].items()}
    try:
        design = Design.model_validate({**data, "source": path})
    except ValidationError as exc:
        problems = field_problems(exc, unknown="unknown field (check its spelling)", model=Design)
        raise InputFileError(f"design file {path}: {problems}") from None
    for role, file in design.files.items():
        if not file.is_file():
            raise InputFileError(f"design file {path}: files.{role}: {file} not found")
    if design.reference is not None and not design.reference.is_file():
        raise InputFileError(f"design file {path}: reference: {design.reference} not found")
    return design
