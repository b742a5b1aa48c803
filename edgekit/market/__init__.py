"""A compute market over the scheduler: edge nodes sell capacity (:class:`~edgekit.types.Ask`),
applications bid for tasks (:class:`~edgekit.types.Bid`), :func:`clear` decides who runs
where and who pays or receives what (:class:`~edgekit.types.Clearing`).

No mechanism is at once efficient, truthful for both sides, individually rational and
budget-balanced (Myerson-Satterthwaite); ``docs/market.md`` says what each of
:data:`MECHANISMS` guarantees and what it does not, with measured figures.
"""

from edgekit.market.clear import DEFAULT_MECHANISM, MECHANISMS, clear
from edgekit.types import Ask, Bid, Clearing

__all__ = ["DEFAULT_MECHANISM", "MECHANISMS", "Ask", "Bid", "Clearing", "clear"]
