"""A test adapter that answers from a script, so judge and scoring tests know every prediction. A script maps a
sample id, or ``task/sample id`` where tasks share ids, to the answer: a text, or a ``Generation`` with the regions
the model outputs (a mask for RES)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from vipbench.models import MODELS
from vipbench.models.base import Generation, GenerationSettings, ModelAdapter
from vipbench.types import Request

SCRIPT: dict[str, str | Generation] = {}


class ScriptedAdapter(ModelAdapter):
    region_modes = ("overlay", "coords", "mask", "box", "point")

    def __init__(self, **_options):
        self.seen: list[Request] = []

    def generate(self, requests: Sequence[Request], settings: GenerationSettings) -> list[str | Generation]:
        self.seen.extend(requests)
        return [SCRIPT.get(f"{r.task}/{r.sample.id}", SCRIPT.get(r.sample.id, "no idea")) for r in requests]


def use_script(answers: Mapping[str, str | Generation]) -> None:
    SCRIPT.clear()
    SCRIPT.update(answers)
    if "scripted" not in MODELS:
        MODELS.register("scripted", ScriptedAdapter, "answers from a test script")
