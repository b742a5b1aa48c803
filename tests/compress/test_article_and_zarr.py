"""The article's DataCompressor interface (now lossless), the article's own method as the
benchmarks measure it, and the numcodecs codec."""

from __future__ import annotations

import numpy as np
import pytest

from edgekit.compress.article import DataCompressor, article_compress, article_decompress
from edgekit.data import list_series, load_series
from edgekit.errors import CorruptDataError, InputError, OptionsError


@pytest.mark.parametrize("name", list_series())
def test_data_compressor_is_lossless_where_the_article_was_not(name):
    x = load_series(name)
    dc = DataCompressor(6)
    blob = dc.compress_sensor_data(x)
    assert dc.decompress_data(blob, x.shape).tobytes() == x.tobytes()
    # the article's method, first value stored: decodes, but float cumsum drifts
    art = article_decompress(article_compress(x, 6))
    assert art.size == x.size
    assert len(blob) < len(article_compress(x, 6))


def test_article_method_is_not_bit_exact_on_decimal_data():
    x = load_series("ecg_mitdb_mV")
    art = article_decompress(article_compress(x))
    assert not np.array_equal(art, x)  # float cumsum: the article's "lossless" is not
    assert np.mean(art == x) < 0.5
    assert np.max(np.abs(art - x)) < 1e-9  # though close, once the first value is stored


def test_data_compressor_arguments():
    with pytest.raises(OptionsError):
        DataCompressor(10)
    with pytest.raises(OptionsError):
        DataCompressor(True)
    dc = DataCompressor(1)
    x = np.arange(12.0).reshape(3, 4)
    blob = dc.compress_sensor_data(x)
    assert dc.decompress_data(blob).shape == (3, 4)
    assert dc.decompress_data(blob, (4, 3)).shape == (4, 3)
    with pytest.raises(InputError):
        dc.decompress_data(blob, (5,))
    assert dc.decompress_data(dc.compress_sensor_data([21.4, 21.5])).tolist() == [21.4, 21.5]
    with pytest.raises(CorruptDataError):
        dc.decompress_data(b"\x00" * 10)
    with pytest.raises(CorruptDataError):
        article_decompress(b"\x08abc")


def test_numcodecs_codec_round_trip_and_config():
    # edgekit's module first: it imports numcodecs past numcodecs' zfpy version parse
    ekzarr = pytest.importorskip("edgekit.compress.zarr", exc_type=ImportError)
    import numcodecs

    EdgekitCodec = ekzarr.EdgekitCodec

    x = load_series("payerne_pressure_hPa")[:5000]
    codec = EdgekitCodec()
    blob = codec.encode(x)
    assert codec.decode(blob).tobytes() == x.tobytes()
    out = np.empty_like(x)
    codec.decode(blob, out=out)
    assert out.tobytes() == x.tobytes()
    config = codec.get_config()
    assert config == {"id": "edgekit", "tolerance": None, "level": 5}
    again = numcodecs.get_codec(dict(config))  # registered under its id
    assert isinstance(again, EdgekitCodec) and again.get_config() == config
    lossy = numcodecs.get_codec({"id": "edgekit", "tolerance": 0.5, "level": 5})
    y = lossy.decode(lossy.encode(x * 1.37))
    assert np.max(np.abs(y - x * 1.37)) <= 0.5
    chunk = np.arange(24, dtype=np.int16).reshape(4, 6)
    assert np.array_equal(codec.decode(codec.encode(chunk)), chunk.ravel())
    with pytest.raises(OptionsError):
        EdgekitCodec(tolerance=-1)
