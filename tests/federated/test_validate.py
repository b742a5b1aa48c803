"""A client's answer is refused, with InvalidUpdateError, for every way it can be wrong."""

from __future__ import annotations

import numpy as np
import pytest

from edgekit.errors import InputError, InvalidUpdateError
from edgekit.federated._validate import RoundCollector, check_fit_result, check_parameters
from edgekit.types import FitResult

LIKE = [np.zeros((64, 10), np.float32), np.zeros(10, np.float32)]


def _good(scale: float = 1.0) -> list[np.ndarray]:
    return [np.full((64, 10), scale, np.float32), np.full(10, scale, np.float32)]


@pytest.mark.parametrize(("arrays", "what"), [
    ([np.zeros((64, 10), np.float32)], "1 arrays, expected 2"),
    (_good() + [np.zeros(3, np.float32)], "3 arrays, expected 2"),
    ([np.zeros((10, 64), np.float32), np.zeros(10, np.float32)], r"shape \(10, 64\)"),
    ([np.zeros((64, 10), np.float64), np.zeros(10, np.float32)], "dtype float64"),
    ([np.zeros((64, 10), np.float32), np.zeros(10, np.int32)], "dtype int32"),
    ([np.full((64, 10), np.nan, np.float32), np.zeros(10, np.float32)], "NaN"),
    ([np.zeros((64, 10), np.float32), np.array([np.inf] * 10, np.float32)], "NaN or infinite"),
    ([np.zeros((64, 10), np.float32).tolist(), np.zeros(10, np.float32)], "not a numpy array"),
])
def test_bad_arrays_are_refused_with_the_facts(arrays, what):
    with pytest.raises(InvalidUpdateError, match=what) as err:
        check_parameters(arrays, LIKE, client="c3", server_round=7)
    assert err.value.client == "c3" and err.value.server_round == 7
    assert isinstance(err.value, InputError) and isinstance(err.value, ValueError)


def test_a_good_answer_passes_unchanged():
    res = check_fit_result(FitResult(_good(2.0), 12, {"loss": 0.5}), LIKE, client="a",
                           server_round=1)
    assert res.num_examples == 12 and res.metrics["loss"] == 0.5
    assert all(np.array_equal(a, b) for a, b in zip(res.parameters, _good(2.0), strict=True))


def test_not_a_fit_result_is_refused():
    with pytest.raises(InvalidUpdateError, match="not a FitResult"):
        check_fit_result(_good(), LIKE, client="a", server_round=1)


def test_collector_takes_one_answer_per_selected_client():
    col = RoundCollector(3, ["a", "b"], LIKE)
    col.accept("a", FitResult(_good(1.0), 5))
    with pytest.raises(InvalidUpdateError, match="answered twice") as err:
        col.accept("a", FitResult(_good(9.0), 5))
    assert err.value.client == "a" and err.value.server_round == 3
    with pytest.raises(InvalidUpdateError, match="not selected"):
        col.accept("z", FitResult(_good(), 5))
    # a refused first answer still uses the client's turn
    with pytest.raises(InvalidUpdateError, match="NaN"):
        col.accept("b", FitResult([np.full((64, 10), np.nan, np.float32),
                                   np.zeros(10, np.float32)], 5))
    with pytest.raises(InvalidUpdateError, match="answered twice"):
        col.accept("b", FitResult(_good(), 5))
    assert [c for c, _ in col.results] == ["a"]
    assert float(col.results[0][1].parameters[0][0, 0]) == 1.0  # the first answer stands
