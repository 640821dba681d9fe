"""The mini ViP-Bench the tests run on, in the exact official layout. The code lives in the package
(``vipbench.examples.vip_bench``), where ``vipbench example-data vip-bench DIR`` writes the same data for a user."""

from __future__ import annotations

from vipbench.examples.vip_bench import ITEMS, MODES, SIZES, write_vip_bench

__all__ = ["ITEMS", "MODES", "SIZES", "write_vip_bench"]
