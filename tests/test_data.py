import numpy as np
import pytest

from edgekit.data import list_series, load_series, series_info
from edgekit.errors import InputError


def test_every_shipped_series_loads_with_its_metadata():
    names = list_series()
    assert "payerne_temp_C" in names and len(names) >= 8
    for name in names:
        x = load_series(name)
        info = series_info(name)
        assert x.dtype == np.float64 and x.ndim == 1 and x.size == info["n"]
        assert np.isfinite(x).all() and info["units"]


def test_unknown_series_is_refused():
    with pytest.raises(InputError):
        load_series("nope")
