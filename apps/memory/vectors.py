"""Embedding vectors as stored bytes: unit-length float32, little-endian.

Stored unit-length, a dot product with a unit-length query is the cosine similarity, so ranking
needs one multiply-add per dimension and no norms. Pure Python: pgvector is not required.
"""

from __future__ import annotations

import math
import operator
import sys
from array import array
from collections.abc import Sequence


def unit(vector: Sequence[float], *, dims: int) -> list[float]:
    """``vector`` scaled to length 1 (a zero vector stays zero); raises ValueError on a width
    other than ``dims`` or a non-finite component."""
    if len(vector) != dims:
        raise ValueError(
            f"the embedding function returned {len(vector)} dimensions; the index expects {dims}"
        )
    values = [float(x) for x in vector]
    norm = math.sqrt(sum(x * x for x in values))
    if not math.isfinite(norm):
        raise ValueError("the embedding function returned a non-finite value")
    return [x / norm for x in values] if norm else values


def encode(vector: Sequence[float], *, dims: int) -> bytes:
    packed = array("f", unit(vector, dims=dims))
    if sys.byteorder == "big":
        packed.byteswap()
    return packed.tobytes()


def decode(blob: bytes | memoryview) -> array:
    packed = array("f")
    packed.frombytes(blob)
    if sys.byteorder == "big":
        packed.byteswap()
    return packed


def similarity(query: Sequence[float], blob: bytes | memoryview) -> float:
    """Cosine similarity of a unit-length ``query`` and a stored vector."""
    return sum(map(operator.mul, query, decode(blob)))
