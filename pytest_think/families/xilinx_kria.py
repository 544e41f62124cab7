"""Kria SOMs (KV260, KR260) under Ubuntu or PetaLinux: designs are accelerator apps in
/lib/firmware/xilinx/<app>/ (.bit.bin, .dtbo, shell.json), loaded with `xmutil` (dfx-mgrd)."""

from __future__ import annotations

import json
import posixpath

from pytest_think.boards import BoardConfig
from pytest_think.capabilities import Flasher
from pytest_think.designs import Design
from pytest_think.errors import FlashError
from pytest_think.families.linux import upload_design_files
from pytest_think.families.xilinx_fpga import FpgaManagerDesigns, Fpgautil, XilinxFpgaFamily
from pytest_think.transport.shell import Shell
from pytest_think.transport.ssh import SshTransport

APPS_DIR = "/lib/firmware/xilinx"
LOADED = "Accelerator loaded to slot 0"
DEFAULT_SHELL = {"shell_type": "XRT_FLAT", "num_slots": "1"}


class Xmutil:
    """dfx-mgrd's command line: which app is in a slot, and loading one."""

    def __init__(self, shell: Shell) -> None:
        self.transport = shell

    def active_app(self) -> str | None:
        """The app `xmutil listapps` shows in a slot (Active_slot other than -1), if any."""
        listing = self.transport.run(["xmutil", "listapps"]).out.splitlines()
        for line in listing[1:]:
            fields = line.split()
            if len(fields) >= 6 and fields[-1] != "-1":
                return fields[0]
        return None

    def load(self, app: str) -> list[str]:
        where = self.transport.where
        removed = self.transport.run(["xmutil", "unloadapp"])
        result = self.transport.run(["xmutil", "loadapp", app])
        lines = [ln.strip() for ln in (removed.out + result.out + result.err).splitlines()]
        lines = [ln for ln in lines if ln]
        state = Fpgautil(self.transport).state()
        if LOADED in lines and self.active_app() == app and state == "operating":
            return lines
        said = next((ln for ln in reversed(lines) if "slot" in ln), lines[-1] if lines else "")
        raise FlashError(
            f"xmutil could not load app '{app}' on {where}: '{said}'; fpga0 state is '{state}'"
        )


class XmutilDesigns(FpgaManagerDesigns):
    """Designs as Kria accelerator apps: an app directory, then `xmutil loadapp`."""

    def flash(self, design: Design) -> list[str]:
        ssh = self.ssh
        app_dir = posixpath.join(APPS_DIR, design.name)
        files = [design.file("bitstream"), design.file("overlay")]
        uploads = [(path, posixpath.join(app_dir, path.name)) for path in files]
        if "shell" in design.files:
            uploads.append((design.files["shell"], posixpath.join(app_dir, "shell.json")))
        # An app directory holds exactly one bitstream and overlay: start from an empty one.
        ssh.run(["rm", "-rf", app_dir]).check(ssh.where)
        ssh.upload(uploads)
        # What the CPU side runs (the model the DPU executes …) goes to the design directory.
        upload_design_files(ssh, self.config, design, skip=("bitstream", "overlay", "shell"))
        if "shell" not in design.files:
            shell = json.dumps(DEFAULT_SHELL).encode()
            ssh.write_file(posixpath.join(app_dir, "shell.json"), shell)
        return Xmutil(ssh).load(design.name)

    def design_active(self) -> bool:
        return Xmutil(self.ssh).active_app() is not None and super().design_active()


class XilinxKriaFamily(XilinxFpgaFamily):
    name = "xilinx-kria"

    def flasher(self, config: BoardConfig, ssh: SshTransport) -> Flasher:
        return XmutilDesigns(config, ssh)
