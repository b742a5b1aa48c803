"""Shamir secret sharing over the prime field GF(2^127 - 1), for secure aggregation.

A secret is a field element (edgekit's secure aggregation draws its 16-byte seeds below the
prime, so a seed *is* an element: 127 bits, at the security level of X25519).  A share is the
value at ``x`` (1, 2, ...: never 0, where the secret sits) of a random polynomial of degree
``t - 1`` whose constant term is the secret; any ``t`` shares give the secret back by Lagrange
interpolation at 0, and ``t - 1`` shares say nothing about it.  Shares travel as 16 bytes,
little-endian.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache

P = (1 << 127) - 1
"""The field's prime, the Mersenne prime 2^127 - 1."""
SHARE_BYTES = 16


def random_element(random_bytes: Callable[[int], bytes]) -> int:
    """A uniform element of the field from a cryptographic source of bytes."""
    while True:
        v = int.from_bytes(random_bytes(16), "little") & ((1 << 127) - 1)
        if v < P:  # rejects only 2^127 - 1 itself: probability 2^-127
            return v


def split(secret: int, xs: Sequence[int], t: int,
          random_bytes: Callable[[int], bytes]) -> list[int]:
    """The shares of ``secret`` at the points ``xs`` (distinct, in 1..P-1) for a threshold of
    ``t`` (1 <= t <= len(xs))."""
    if not 0 <= secret < P:
        raise ValueError("the secret is not a field element")
    if not 1 <= t <= len(xs):
        raise ValueError(f"threshold {t} for {len(xs)} shares")
    coeffs = [secret] + [random_element(random_bytes) for _ in range(t - 1)]
    out = []
    for x in xs:
        acc = 0
        for c in reversed(coeffs):  # Horner
            acc = (acc * x + c) % P
        out.append(acc)
    return out


@lru_cache(maxsize=64)
def lagrange_at_zero(xs: tuple[int, ...]) -> tuple[int, ...]:
    """The Lagrange coefficients that give a polynomial's value at 0 from its values at
    ``xs`` (distinct, non-zero): f(0) = sum(c_i * f(x_i))."""
    if len(set(xs)) != len(xs) or any(not 0 < x < P for x in xs):
        raise ValueError("share points must be distinct and non-zero")
    out = []
    for i, xi in enumerate(xs):
        num, den = 1, 1
        for j, xj in enumerate(xs):
            if j != i:
                num = num * xj % P
                den = den * (xj - xi) % P
        out.append(num * pow(den, -1, P) % P)
    return tuple(out)


def combine(xs: Sequence[int], ys: Sequence[int]) -> int:
    """The secret from shares ``ys`` at points ``xs`` (exactly the threshold's number of them,
    or more: more shares give the same secret only if they all lie on one polynomial of degree
    below the threshold, which the caller checks against a commitment)."""
    coeffs = lagrange_at_zero(tuple(xs))
    return sum(c * y for c, y in zip(coeffs, ys, strict=True)) % P


def to_bytes(v: int) -> bytes:
    return v.to_bytes(SHARE_BYTES, "little")


def from_bytes(b: bytes) -> int:
    """A field element from 16 bytes; ``ValueError`` if it is not below the prime."""
    v = int.from_bytes(b, "little")
    if v >= P:
        raise ValueError("not a field element")
    return v
