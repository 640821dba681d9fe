"""Two sanity baselines that bracket every real model, so a scorer is seen to tell models apart.

``oracle`` answers the reference and must score 100; ``blind`` never looks at the image and answers the
most common reference of each question type, which is what answer priors alone can score. A real model
between them has used the pixels; one at or below ``blind`` has not. Neither needs torch.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any, ClassVar

from vipbench.errors import VipbenchError
from vipbench.models.base import Generation, GenerationSettings, ModelAdapter, OutputRegion
from vipbench.types import REGION_MODES, Request

#: The sample metadata key ``blind`` groups answers by; samples without it form one group.
GROUP_KEY = "question_type"


class OracleAdapter(ModelAdapter):
    """Answers ``sample.references[0]``: the ceiling, which proves a right answer is scored right. Where the sample's
    truth is a mask (RES: ``metadata["segmentation"]``), it outputs that mask too, as a segmenting model would."""

    region_modes: ClassVar[tuple[str, ...]] = REGION_MODES
    default_batch_size: ClassVar[int] = 256

    def generate(self, requests: Sequence[Request], settings: GenerationSettings) -> list[str | Generation]:
        return [_oracle_answer(r) for r in requests]


def _oracle_answer(request: Request) -> str | Generation:
    text = request.sample.references[0]
    if "segmentation" not in request.sample.metadata:
        return text
    from vipbench.scoring.masks import sample_truth, tight_box

    truth = sample_truth(request.sample.metadata, f"oracle: sample {request.sample.id}")
    mask = {"size": list(truth["size"]), "counts": truth["counts"].decode()}
    return Generation(text, regions=[OutputRegion(box=tight_box(truth), mask=mask)])


class BlindAdapter(ModelAdapter):
    """Answers the majority reference of each question type, never reading the image or the question.

    ``begin_task`` counts the references of all the task's requests per ``metadata["question_type"]``;
    ties go to the alphabetically first answer, so the choice does not depend on request order.
    """

    region_modes: ClassVar[tuple[str, ...]] = REGION_MODES
    default_batch_size: ClassVar[int] = 256

    def __init__(self):
        self.answers: dict[str, dict[Any, str]] = {}
        """Task → question type → the answer given to every request of that type."""

    def begin_task(self, task: str, requests: Sequence[Request]) -> None:
        counts: dict[Any, Counter[str]] = defaultdict(Counter)
        for r in requests:
            counts[r.sample.metadata.get(GROUP_KEY)][r.sample.references[0]] += 1
        self.answers[task] = {group: min(c, key=lambda a: (-c[a], a)) for group, c in counts.items()}

    def generate(self, requests: Sequence[Request], settings: GenerationSettings) -> list[str]:
        out = []
        for r in requests:
            answers = self.answers.get(r.task)
            if answers is None:
                raise VipbenchError(f"blind baseline: begin_task was not called for task {r.task!r}")
            out.append(answers.get(r.sample.metadata.get(GROUP_KEY), ""))
        return out

    def describe(self) -> dict[str, Any]:
        return {"adapter": type(self).__name__, "rule": f"majority reference per metadata[{GROUP_KEY!r}]"}
