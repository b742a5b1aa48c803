"""Every notebook in examples/ runs top to bottom, and its plots are saved for a person to
look at (``ci-artifacts/notebooks/NAME-K.png``).  A notebook that stops working fails CI."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from tests._env import child_env

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "examples").glob("*.ipynb"))
ARTIFACTS = Path(os.environ.get("EDGEKIT_ARTIFACTS", ROOT / "ci-artifacts")) / "notebooks"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_and_plots(path: Path) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=240, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}},
    )
    client.execute(env=child_env())  # the kernel runs on the suite's backend
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    pngs = 0
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "image/png" in data:
                pngs += 1
                (ARTIFACTS / f"{path.stem}-{pngs}.png").write_bytes(
                    base64.b64decode(data["image/png"]))
    assert pngs >= 1, f"{path.name} drew no plot"
