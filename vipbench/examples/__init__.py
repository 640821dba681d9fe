"""Tiny examples of every dataset layout vipbench reads from disk, written by the code the tests run on, so a user
can see a layout, and try a task on it, before downloading anything: ``vipbench example-data DATASET DIR``.

Each example is in the layout its loader (``tasks/<name>/hooks.py``) reads, and ``vipbench run --model oracle``
scores 100 on it wherever a metric grades the task (tested).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

from vipbench.errors import UnknownNameError, VipbenchError


@dataclass(frozen=True)
class Layout:
    """One on-disk layout of one dataset."""

    dataset: str
    """The dataset's key: what ``--data-dir KEY=PATH`` names."""
    name: str
    """The layout's name among the dataset's layouts; the first listed is the default."""
    writer: str
    """``module:function`` in ``vipbench.examples``, called with the folder to write into."""
    description: str


LAYOUTS: tuple[Layout, ...] = (
    Layout("vip-bench", "official", "vip_bench:write_vip_bench", "ViP-Bench's official layout (HF mucai/ViP-Bench)"),
    Layout("pope", "hf", "region_tasks:write_pope_parquet", "HF lmms-lab/POPE: parquet, config Full"),
    Layout("pope", "rucaibox", "region_tasks:write_pope_rucaibox", "RUCAIBox's coco_pope_<setting>.json, val2014/"),
    Layout("refcocog", "hf", "region_tasks:write_refcocog", "HF lmms-lab/RefCOCOg: parquet, splits val and test"),
    Layout("refcoco", "hf", "refcoco:write_refcoco", "HF lmms-lab/RefCOCO: parquet, splits val, test, testA, testB"),
    Layout("refcoco", "hf-rle", "refcoco:write_refcoco_rle", "lmms-lab/RefCOCO's columns, segmentation as COCO RLE"),
    Layout("refcocoplus", "hf", "refcoco:write_refcocoplus", "HF lmms-lab/RefCOCOplus: parquet, val, testA, testB"),
    Layout("vcr", "official", "region_tasks:write_vcr_official", "VCR's vcr1annots/ and vcr1images/"),
    Layout("vcr", "vip-llava", "region_tasks:write_vcr_vip_llava", "ViP-LLaVA's vcr-val.json, vcr1images/"),
    Layout("v7w", "vip-llava", "region_tasks:write_v7w_vip_llava", "ViP-LLaVA's v7w-test.json, images/"),
    Layout("v7w", "official", "region_tasks:write_v7w_official", "dataset_v7w_pointing's dataset.json, images/"),
    Layout("pointqa", "vip-llava", "region_tasks:write_pointqa_vip_llava", "ViP-LLaVA's pointQA_twice_test.json"),
    Layout("pointqa", "shikra", "region_tasks:write_pointqa_shikra", "Shikra's pointQA_twice_test.jsonl"),
    Layout("llava-bench-wild", "hf", "region_tasks:write_llava_bench_wild", "HF liuhaotian/llava-bench-in-the-wild"),
    Layout("llava-bench-coco", "llava", "region_tasks:write_llava_bench_coco", "LLaVA's qa90 files, val2014/"),
)


def find_layout(dataset: str, layout: str | None = None) -> Layout:
    """The named layout of ``dataset`` (a dataset key), or its default one."""
    layouts = [lay for lay in LAYOUTS if lay.dataset == dataset]
    if not layouts:
        raise UnknownNameError("dataset", dataset, dict.fromkeys(lay.dataset for lay in LAYOUTS))
    if layout is None:
        return layouts[0]
    for candidate in layouts:
        if candidate.name == layout:
            return candidate
    raise UnknownNameError(f"{dataset} layout", layout, [lay.name for lay in layouts])


def write_example(layout: Layout, folder: Path) -> Path:
    """Write ``layout``'s tiny example into ``folder``, which must be new or empty: an example written over a real
    copy of the dataset would mix with it."""
    folder = folder.expanduser()
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise VipbenchError(f"{folder} exists and is not an empty folder; give a new one")
    module, function = layout.writer.split(":")
    write = getattr(importlib.import_module(f"vipbench.examples.{module}"), function)
    folder.mkdir(parents=True, exist_ok=True)
    return write(folder)


__all__ = ["LAYOUTS", "Layout", "find_layout", "write_example"]
