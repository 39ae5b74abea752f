"""The contracts build as a versioned wheel (through an sdist, as `python -m build` does)
that carries the published documents, so another team can `pip install` them."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

from cites_contracts import registry
from cites_contracts.schemas import schema_filename

REPO = Path(__file__).resolve().parents[1]
CONTRACTS = REPO / "shared" / "contracts"


def test_the_wheel_carries_the_schemas_and_the_asyncapi_document(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    built = subprocess.run([sys.executable, "-m", "build", "--outdir", str(dist),
                            str(CONTRACTS)], capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    version = next(line.split('"')[1] for line in
                   (CONTRACTS / "pyproject.toml").read_text().splitlines()
                   if line.startswith("version = "))
    [wheel] = dist.glob("*.whl")
    assert wheel.name == f"cites_contracts-{version}-py3-none-any.whl"
    assert (dist / f"cites_contracts-{version}.tar.gz").exists()

    published = "cites_contracts/published/"
    expected = {f"{published}asyncapi.yaml": CONTRACTS / "asyncapi.yaml",
                f"{published}schemas/envelope.json": CONTRACTS / "schemas" / "envelope.json"}
    for spec in registry.catalogue():
        name = schema_filename(spec)
        expected[f"{published}schemas/{name}"] = CONTRACTS / "schemas" / name
    with zipfile.ZipFile(wheel) as archive:
        for inside, source in expected.items():
            assert archive.read(inside) == source.read_bytes(), inside
        archive.extractall(tmp_path / "site")

    # Installed (the wheel unpacked ahead of the editable install), the package finds
    # its own copies.
    found = subprocess.run(
        [sys.executable, "-c", "from cites_contracts import asyncapi, schemas; "
         "print(asyncapi.DOCUMENT); print(schemas.DEFAULT_DIR)"],
        capture_output=True, text=True, timeout=60, check=True,
        env={**os.environ, "PYTHONPATH": str(tmp_path / "site")})
    document, schemas_dir = (Path(p) for p in found.stdout.split())
    assert document == tmp_path / "site" / "cites_contracts" / "published" / "asyncapi.yaml"
    assert document.read_bytes() == (CONTRACTS / "asyncapi.yaml").read_bytes()
    assert schemas_dir.is_dir() and schemas_dir.is_relative_to(tmp_path / "site")
