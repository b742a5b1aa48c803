"""Float grids costed on a long block's sample (``codec._quant_candidate``, lazy) choose
the coding the full search chooses, and the chosen one is then made in full: frames are
byte-identical to the search that quantizes every candidate in full, on real series with
long blocks and on blocks where the grids lose."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgekit.compress import codec as C
from edgekit.compress import decode, encode

CORPUS = Path(__file__).resolve().parent.parent / "data" / "corpus"


def _full_search(monkeypatch) -> None:
    real = C._quant_candidate

    def full(*args, **kw):
        return real(*args[:8], lazy=False)  # the arguments before ``lazy``

    monkeypatch.setattr(C, "_quant_candidate", full)


def _count_lazy(monkeypatch) -> list[int]:
    made = [0, 0]  # lazy candidates, and those made in full
    real = C._quant_candidate

    def spy(*args, **kw):
        cand, nz, kr = real(*args, **kw)
        if cand.make is not None:
            made[0] += 1
            inner = cand.make

            def make():
                made[1] += 1
                return inner()

            cand.make = make
        return cand, nz, kr

    monkeypatch.setattr(C, "_quant_candidate", spy)
    return made


def _noisy_block() -> np.ndarray:
    """65,536 float32 readings on a 0.01 grid plus float noise in a tenth of them: the
    decimal grid misses many, the finer exponent and the affine grid are costed too."""
    rng = np.random.default_rng(7)
    x = (np.cumsum(rng.integers(-20, 21, 65536)) / 100.0).astype(np.float32)
    hit = rng.random(x.size) < 0.1
    x[hit] = np.nextafter(x[hit], np.float32(np.inf))
    return x


@pytest.mark.parametrize("name", ["pv_system50_ac_power_W", "pysiology_emg_mV", "noisy"])
def test_lazy_grids_give_the_full_searchs_frame(name, monkeypatch):
    x = _noisy_block() if name == "noisy" else np.load(CORPUS / f"{name}.npy")
    made = _count_lazy(monkeypatch)
    lazy = encode(x)
    monkeypatch.undo()
    assert made[0] >= 1  # the sample-only path ran
    _full_search(monkeypatch)
    assert encode(x) == lazy
    assert decode(lazy).tobytes() == x.tobytes()


def test_lazy_winner_is_made_in_full(monkeypatch):
    """A lazy candidate that wins is quantized over the whole block before it is coded
    (its sample's arrays alone would lose values)."""
    rng = np.random.default_rng(3)
    # a 1/300 grid (means of three readings printed in full): the decimal fit is costly,
    # the affine grid wins, costed on the sample first
    x = np.round(np.cumsum(rng.integers(-3, 4, 60000)) / 300.0, 13) + 20.0
    made = _count_lazy(monkeypatch)
    blob = encode(x)
    assert made[1] >= 1
    assert decode(blob).tobytes() == x.tobytes()
