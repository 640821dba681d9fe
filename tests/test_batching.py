"""Batching: longest prompt first, predictions back in the tasks' order, ``auto`` backing off on out-of-memory
errors without losing or repeating a sample, and greedy answers that do not depend on the batch."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from vipbench.cli import main
from vipbench.models import MODELS
from vipbench.models.base import GenerationSettings, ModelAdapter
from vipbench.records import RunSpec
from vipbench.runner import run
from vipbench.types import Request

torch = pytest.importorskip("torch")


class SmallGpuAdapter(ModelAdapter):
    """Answers each request's sample id, and runs out of memory on batches larger than ``fits``."""

    region_modes = ("overlay", "coords", "mask", "box", "point")
    calls: list[list[str]] = []

    def __init__(self, fits: int = 5, fail: str = "oom"):
        self.fits, self.fail = fits, fail

    def generate(self, requests: Sequence[Request], settings: GenerationSettings) -> list[str]:
        SmallGpuAdapter.calls.append([r.text for r in requests])
        if len(requests) > self.fits:
            if self.fail == "oom":
                raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
            raise ValueError("a bug, not a memory problem")
        return [f"answer {r.sample.id}" for r in requests]


@pytest.fixture(autouse=True)
def registered():
    if "small-gpu" not in MODELS:
        MODELS.register("small-gpu", SmallGpuAdapter, "runs out of memory above a batch size (tests)")
    SmallGpuAdapter.calls.clear()


def synth_run(tmp_path, run_id: str, batch_size, **options):
    spec = RunSpec(model="small-gpu", tasks=["vip-synth"], limit=20, model_options=options)
    return run(spec, results_dir=tmp_path, run_id=run_id, batch_size=batch_size, warn=lambda m: None)


def test_auto_halves_on_out_of_memory_and_loses_no_sample(tmp_path):
    store = synth_run(tmp_path, "auto", "auto", fits=5)
    predictions = store.predictions()
    assert len(predictions) == 20 and len({p.sample_id for p in predictions}) == 20  # none lost, none twice
    assert all(p.prediction == f"answer {p.sample_id}" for p in predictions)
    batch = store.manifest().batch
    # 20 requests: 128 → tries 20, then 10, then 5, which fits.
    assert (batch["requested"], batch["largest_used"], batch["out_of_memory_backoffs"]) == ("auto", 5, 2)
    assert [len(c) for c in SmallGpuAdapter.calls] == [20, 10, 5, 5, 5, 5]


def test_requests_run_longest_first_and_are_written_in_the_tasks_order(tmp_path):
    store = synth_run(tmp_path, "order", 4, fits=100)
    lengths = [len(text) for call in SmallGpuAdapter.calls for text in call]
    assert lengths == sorted(lengths, reverse=True)  # little padding in each batch
    planned_order = [p.sample_id for p in synth_run(tmp_path, "one", 1, fits=100).predictions()]
    assert [p.sample_id for p in store.predictions()] == planned_order  # written back as the task lists them
    assert planned_order != [p.sample_id for p in sorted(store.predictions(), key=lambda p: -len(p.prompt))]


def test_an_error_that_is_not_out_of_memory_stops_the_run(tmp_path, capsys):
    argv = ["run", "--model", "small-gpu", "--tasks", "vip-synth", "--limit", "8", "--batch-size", "auto"]
    with pytest.raises(ValueError, match="a bug"):
        main([*argv, "--model-args", "fits=2,fail=bug", "--results", str(tmp_path), "--run-id", "bug"])
    assert len(SmallGpuAdapter.calls) == 1  # not retried smaller, as if it were memory


def test_batch_size_option_takes_a_number_or_auto(tmp_path, capsys):
    argv = ["run", "--model", "small-gpu", "--tasks", "vip-synth", "--limit", "4", "--results", str(tmp_path)]
    assert main([*argv, "--batch-size", "auto", "--run-id", "a"]) == 0
    assert "batch size auto (largest used 4)" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*argv, "--batch-size", "many"])
    assert "--batch-size: invalid batch_size value: 'many'" in capsys.readouterr().err


def test_greedy_answers_and_inputs_do_not_depend_on_the_batch(tmp_path):
    def predictions(batch_size: int):
        spec = RunSpec(model="vip-llava-tiny", tasks=["vip-synth"], limit=12, generation={"max_new_tokens": 6})
        store = run(spec, results_dir=tmp_path, run_id=f"b{batch_size}", batch_size=batch_size, warn=lambda m: None)
        return [(p.sample_id, p.prediction, p.input_ids_hash) for p in store.predictions()]

    assert predictions(1) == predictions(8)


def test_a_static_kv_cache_gives_the_same_greedy_answers(tmp_path):
    def predictions(kv_cache: str):
        spec = RunSpec(
            model="vip-llava-tiny",
            tasks=["vip-synth"],
            limit=6,
            generation={"max_new_tokens": 6},
            model_options={"kv_cache": kv_cache},
        )
        store = run(spec, results_dir=tmp_path, run_id=kv_cache, batch_size=3, warn=lambda m: None)
        assert store.manifest().model["kv_cache"] == kv_cache
        return [p.prediction for p in store.predictions()]

    assert predictions("static") == predictions("dynamic")
