"""The examples in edgekit.memory's docstrings and docs/memory.md run and say what they show."""

from __future__ import annotations

import doctest
from pathlib import Path

import pytest

from edgekit.memory import accounting, pool, store


@pytest.mark.parametrize("module", [store, pool, accounting])
def test_docstring_examples(module):
    result = doctest.testmod(module, extraglobs={"np": __import__("numpy")})
    assert result.attempted > 0 and result.failed == 0


def test_docs_page_examples():
    page = Path(__file__).resolve().parents[2] / "docs" / "memory.md"
    result = doctest.testfile(str(page), module_relative=False)
    assert result.attempted > 0 and result.failed == 0
