"""``clear(asks, bids, mechanism=...)``: the market's entry point, and the registry of its
mechanisms by name."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import MappingProxyType
from typing import Any

from edgekit.errors import OptionsError
from edgekit.market import baselines, mechanisms, vcg
from edgekit.market._arrays import MarketArrays, compile_market
from edgekit.types import Ask, Bid, Clearing

__all__ = ["DEFAULT_MECHANISM", "MECHANISMS", "REFERENCE_MECHANISMS", "clear"]

#: the mechanism :func:`clear` uses unless told otherwise
DEFAULT_MECHANISM = "pivot-greedy-margin"

_Mechanism = Callable[..., Clearing]

_REGISTRY: dict[str, _Mechanism] = {
    "pivot-greedy": mechanisms.pivot_greedy,
    "pivot-greedy-phantom": mechanisms.pivot_greedy_phantom,
    "pivot-greedy-margin": mechanisms.pivot_greedy_margin,
    "halves": mechanisms.halves,
    "trade-reduction": mechanisms.trade_reduction,
    "pivot-price": mechanisms.pivot_price,
    "posted-price": mechanisms.posted_price,
}

#: name -> mechanism (a callable taking the compiled market and keyword options): the ones
#: that clear a 100 x 2,000 market in well under a second
MECHANISMS = MappingProxyType(_REGISTRY)

_REFERENCES: dict[str, _Mechanism] = {
    "vcg": vcg.vcg,
    "pay-your-bid": baselines.pay_your_bid,
}

#: name -> the yardsticks :func:`clear` also runs: ``"vcg"`` (efficient and truthful, runs a
#: deficit, one MILP per trader: small markets only) and ``"pay-your-bid"`` (the welfare
#: MILP, everyone paid its own report: manipulable)
REFERENCE_MECHANISMS = MappingProxyType(_REFERENCES)


def clear(asks: Sequence[Ask], bids: Sequence[Bid], *, mechanism: str = DEFAULT_MECHANISM,
          **options: Any) -> Clearing:
    """Clear a market: which bid's task runs on which node, what each application pays and
    each node receives (per hour).

    Args:
        asks: the nodes' offers (:class:`~edgekit.types.Ask`), ids unique.
        bids: the applications' bids (:class:`~edgekit.types.Bid`), ids unique.
        mechanism: a name of :data:`MECHANISMS` or :data:`REFERENCE_MECHANISMS` (default
            ``"pivot-greedy-margin"``; see ``docs/market.md`` for what each guarantees).
        **options: the mechanism's own keywords (``seed`` for ``"halves"``, ``prices`` for
            ``"posted-price"``, ``time_limit_s`` for ``"vcg"`` and ``"pay-your-bid"``).

    A bid that no node can ever hold (too large, no eligible node, a resource nobody
    offers) is simply not traded.

    Raises:
        InputTypeError: an element is not an Ask / Bid.
        InputError: duplicate ids, overflowing amounts, bad mechanism options.
        OptionsError: an unknown mechanism or option.
    """
    known = {**_REGISTRY, **_REFERENCES}
    fn = known.get(mechanism) if isinstance(mechanism, str) else None
    if fn is None:
        raise OptionsError(f"unknown mechanism {mechanism!r}; known: {', '.join(known)}",
                           name="mechanism", got=mechanism)
    arr: MarketArrays = compile_market(asks, bids)
    try:
        return fn(arr, **options)
    except TypeError as err:
        if "unexpected keyword" in str(err):
            raise OptionsError(f"mechanism {mechanism!r}: {err}", name="options",
                               got=sorted(options)) from err
        raise
