"""Build hook: the wheel carries the published contracts.

The JSON Schemas (``schemas/``) and the AsyncAPI document (``asyncapi.yaml``) live beside
the package, where the repository's readers and links expect them; the wheel and the
sdist carry copies under ``cites_contracts/published/``, so a team that ``pip install``s
the contracts gets the exact documents its version describes
(``cites_contracts.schemas.DEFAULT_DIR``, ``cites_contracts.asyncapi.DOCUMENT``).
Everything else is in ``pyproject.toml``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent


class BuildWithPublished(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):  # editable: read in place
            return
        target = Path(self.build_lib) / "cites_contracts" / "published"
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(HERE / "schemas", target / "schemas")
        shutil.copy2(HERE / "asyncapi.yaml", target / "asyncapi.yaml")


setup(cmdclass={"build_py": BuildWithPublished})
