"""A compute market over the scheduler: edge nodes sell capacity (:class:`~edgekit.types.Ask`),
applications bid for tasks (:class:`~edgekit.types.Bid`), :func:`clear` decides who runs
where and who pays or receives what (:class:`~edgekit.types.Clearing`).

No mechanism is at once efficient, truthful for both sides, individually rational and
budget-balanced (Myerson-Satterthwaite); ``docs/market.md`` says what each of
:data:`MECHANISMS` guarantees and what it does not, with measured figures.
"""

from edgekit.market.clear import DEFAULT_MECHANISM, MECHANISMS, REFERENCE_MECHANISMS, clear
from edgekit.market.generate import (
    HELD_OUT_SEEDS,
    TUNING_SEEDS,
    Market,
    random_market,
    sized_market,
)
from edgekit.market.optimum import Optimum, optimal_welfare
from edgekit.market.probes import ProbeResult, SideProbes, probe
from edgekit.market.repeated import RepeatedResult, RoundMetrics, repeated_market
from edgekit.market.vcg import VCGResult, vcg_detail
from edgekit.types import Ask, Bid, Clearing

__all__ = [
    "DEFAULT_MECHANISM",
    "HELD_OUT_SEEDS",
    "MECHANISMS",
    "TUNING_SEEDS",
    "REFERENCE_MECHANISMS",
    "Ask",
    "Bid",
    "Clearing",
    "Market",
    "Optimum",
    "ProbeResult",
    "RepeatedResult",
    "RoundMetrics",
    "SideProbes",
    "VCGResult",
    "clear",
    "optimal_welfare",
    "probe",
    "random_market",
    "repeated_market",
    "sized_market",
    "vcg_detail",
]
