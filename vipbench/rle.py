"""COCO run-length encoding of binary masks: the compressed string form of ``pycocotools.mask.encode``.

Counts run over the mask in column-major order and start with a run of zeros; each count is written as
5-bit groups in ASCII 48–111, the third count onwards as the difference from the count two before.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def encode(mask: np.ndarray) -> dict[str, Any]:
    """A 2-D boolean mask (height × width) → ``{"size": [h, w], "counts": str}``."""
    height, width = mask.shape
    flat = np.asarray(mask, dtype=bool).flatten(order="F")
    edges = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate(([0], edges, [flat.size]))
    counts = np.diff(bounds).tolist()
    if flat.size and flat[0]:
        counts.insert(0, 0)
    return {"size": [int(height), int(width)], "counts": _to_string(counts)}


def decode(rle: dict[str, Any]) -> np.ndarray:
    """The inverse of ``encode``."""
    height, width = rle["size"]
    flat = np.zeros(height * width, dtype=bool)
    position, value = 0, False
    for count in _from_string(rle["counts"]):
        flat[position : position + count] = value
        position, value = position + count, not value
    return flat.reshape((height, width), order="F")


def _to_string(counts: list[int]) -> str:
    out = []
    for i, count in enumerate(counts):
        x = count - counts[i - 2] if i > 2 else count
        more = True
        while more:
            c = x & 0x1F
            x >>= 5
            more = x != -1 if c & 0x10 else x != 0
            out.append(chr(c + 48 + (0x20 if more else 0)))
    return "".join(out)


def _from_string(text: str) -> list[int]:
    counts: list[int] = []
    p = 0
    while p < len(text):
        x, k, more = 0, 0, True
        while more:
            c = ord(text[p]) - 48
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p, k = p + 1, k + 1
            if not more and c & 0x10:
                x |= -1 << (5 * k)
        counts.append(x + counts[-2] if len(counts) > 2 else x)
    return counts
