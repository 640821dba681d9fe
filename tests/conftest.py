from __future__ import annotations

import os
from pathlib import Path

import pytest
from fixture_data import write_vip_bench

# No network in tests: judges use vipbench's own wording unless a test supplies upstream's prompt file
# (tests/upstream_standins.py); it is a deviation, and the scores say so. Set for the whole session, module-scoped
# fixtures and subprocesses included.
os.environ["VIPBENCH_JUDGE_PROMPT"] = "vipbench"
# Likewise the question-template files some protocols draw from (PerceptionGPT's): a fixed question, a deviation,
# unless a test supplies a template file (tests/test_upstream_inputs_native.py).
os.environ["VIPBENCH_PROTOCOL_TEMPLATES"] = "vipbench"
# huggingface_hub reads HF_HUB_OFFLINE once, when first imported: a module-scoped fixture that imports it before
# the per-test setting below would leave the whole session online (tests then see "unreachable", not "offline").
os.environ["HF_HUB_OFFLINE"] = "1"


def pytest_addoption(parser) -> None:
    parser.addoption(
        "--update-snapshots",
        action="store_true",
        help="rewrite tests/snapshots/ from the current code (prompt-stability snapshots), on purpose",
    )


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Keep caches (tiny checkpoint, judge cache) out of the user's home; share them across one session."""
    monkeypatch.setenv("VIPBENCH_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def vip_bench_dir(tmp_path_factory) -> Path:
    return write_vip_bench(tmp_path_factory.mktemp("vip-bench") / "ViP-Bench")


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    pytest.importorskip("torch")
    from vipbench.models.tiny.llava import build_tiny_vipllava

    return build_tiny_vipllava(tmp_path_factory.mktemp("ckpt") / "tiny-vipllava")
