"""Build hook: a wheel carries the shipped MONAI bundle (``configs/``, ``models/``) as
``follicle_seg/bundle/``, so an installed (not editable) package finds its weights.

Everything else about the build is in ``pyproject.toml``.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

BUNDLE_PARTS = ("configs", "models")


class BuildPyWithBundle(build_py):
    """``build_py`` plus a copy of the bundle into the built package (not for editable installs,
    which read the bundle from the source tree)."""

    def run(self) -> None:
        if getattr(self, "editable_mode", False):
            super().run()
            return
        # build/lib outlives a build: a module or bundle file deleted from the source since would
        # ship again in the next wheel
        shutil.rmtree(Path(self.build_lib) / "follicle_seg", ignore_errors=True)
        super().run()
        root = Path(__file__).resolve().parent
        target = Path(self.build_lib) / "follicle_seg" / "bundle"
        for part in BUNDLE_PARTS:
            shutil.copytree(root / part, target / part, dirs_exist_ok=True)


setup(cmdclass={"build_py": BuildPyWithBundle})
