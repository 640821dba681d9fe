"""Checks every model adapter must pass. A test class mixes this in and provides the fixtures ``adapter`` (a
built adapter), ``requests`` (at least 8 requests in a mode the adapter reads) and ``region_pair`` (two requests
that differ only in where their region is; ``make_region_pair`` builds one)."""

from __future__ import annotations

import inspect
from pathlib import Path

from PIL import Image, ImageDraw

from vipbench.models.base import Generation, GenerationSettings
from vipbench.types import REGION_TOKEN, Overlay, Region, Request, Sample

GREEDY = GenerationSettings(max_new_tokens=8, temperature=0.0)


def make_region_pair(folder: Path, mode: str) -> list[Request]:
    """The same image and question about a region in the top-left, then in the bottom-right corner."""
    image = Image.new("RGB", (96, 64), (90, 120, 150))
    ImageDraw.Draw(image).ellipse((10, 8, 40, 30), fill=(240, 200, 40))
    ImageDraw.Draw(image).rectangle((60, 36, 88, 58), fill=(30, 30, 200))
    path = folder / "region-pair.png"
    image.save(path)
    requests = []
    for box in ((8.0, 6.0, 42.0, 32.0), (58.0, 34.0, 90.0, 60.0)):
        region = Region(box=box)
        sample = Sample("pair", None, None, ("a",), (region,), "What is <obj>?", path)
        if mode == "overlay":
            overlay = Overlay(region, "rectangle", "red", seed=0)
            requests.append(Request("t", sample, "What is within the red rectangle?", path, mode, overlays=(overlay,)))
        elif mode == "coords":
            requests.append(Request("t", sample, f"What is {region.coords_text(image.size)}?", path, mode))
        else:
            requests.append(Request("t", sample, f"What is {REGION_TOKEN}?", path, mode, regions=(region,)))
    return requests


def vip_bench_requests(vip_bench_dir: Path, mode: str) -> list[Request]:
    """Both ViP-Bench splits of the fixture data, as requests in ``mode``."""
    from vipbench.tasks import TaskIndex

    index = TaskIndex()
    tasks = [index.task(name) for name in ("vip-bench-bbox", "vip-bench-human")]
    return [task.build_request(s, mode) for task in tasks for s in task.load_samples(vip_bench_dir)]


def texts(answers) -> list[str]:
    return [a.text if isinstance(a, Generation) else a for a in answers]


class AdapterContract:
    #: Whether the adapter runs a model here and so can say exactly what it read (API models and baselines need not).
    records_model_input = True

    def test_one_answer_per_request_in_order(self, adapter, requests):
        answers = adapter.generate(requests[:3], GREEDY)
        assert len(answers) == 3 and all(isinstance(a, str | Generation) for a in answers)
        assert texts(adapter.generate(requests[2:3], GREEDY)) == texts(answers[2:3])

    def test_greedy_batch_of_8_equals_batch_of_1(self, adapter, requests):
        batched = adapter.generate(requests[:8], GREEDY)
        single = [adapter.generate([r], GREEDY)[0] for r in requests[:8]]
        assert batched == single  # the text, and what the model read (padding must not change the ids)

    def test_records_what_the_model_read(self, adapter, requests):
        """The full templated input and a hash of its token ids; different questions, different inputs."""
        if not self.records_model_input:
            return
        answers = adapter.generate(requests[:2], GREEDY)
        assert all(isinstance(a, Generation) and a.model_input and a.input_ids_hash for a in answers)
        assert len(answers[0].input_ids_hash) == 64
        if requests[0].text != requests[1].text:
            assert answers[0].model_input != answers[1].model_input
            assert answers[0].input_ids_hash != answers[1].input_ids_hash

    def test_declares_region_modes_and_describes_itself(self, adapter, requests):
        assert set(adapter.region_modes) <= {"overlay", "mask", "box", "coords", "point"}
        assert requests[0].region_mode in adapter.region_modes
        assert adapter.describe()["adapter"] == type(adapter).__name__

    def test_declares_the_batch_size_it_asks_for(self, adapter):
        """``batch_size`` (what the runner reads) is the base class's attribute: None, "auto" or a positive int."""
        size = adapter.batch_size
        assert size is None or size == "auto" or (type(size) is int and size >= 1)
        assert type(adapter).default_batch_size >= 1

    def test_the_manifest_records_every_setting(self, adapter):
        """Each constructor option is in describe() (a model path as the source it loaded from)."""
        described = adapter.describe()
        options = [p for p in inspect.signature(type(adapter)).parameters if p not in ("self", "model_path")]
        assert [o for o in options if o not in described] == []
        if "model_path" in inspect.signature(type(adapter)).parameters:
            assert described["source"]

    def test_the_region_reaches_the_model(self, adapter, region_pair):
        """Two requests that differ only in where the region is give different logits: the region path is wired."""
        import torch

        logits = adapter.next_token_logits(region_pair)
        assert logits.shape[0] == 2 and not torch.allclose(logits[0], logits[1])
