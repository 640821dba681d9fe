"""What vipbench writes to disk. One Pydantic model per line or file, so every stage reads what the
previous one wrote with validation, and a reader can tell what produced each number."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from vipbench.types import REGION_TOKEN, Region, Request, Sample

if TYPE_CHECKING:
    from vipbench.models.base import Generation


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def stable_hash(obj: Any) -> str:
    return sha256_text(json.dumps(obj, sort_keys=True, ensure_ascii=False, default=str))


def ids_hash(ids: Any) -> str:
    """A hash of a sequence of token ids (a list, or a 1-D tensor): the same ids give the same hash anywhere."""
    values = ids.tolist() if hasattr(ids, "tolist") else list(ids)
    return sha256_text(",".join(str(int(v)) for v in values))


def unit_name(task: str, prompt_style: str | None) -> str:
    """A scored unit: a task, or a task with its regions redrawn in one shape (``vip-bench-bbox@arrow``)."""
    return task if prompt_style is None else f"{task}@{prompt_style}"


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RegionRecord(_Record):
    """A region as a mask-, box- or point-mode model received it, in the source image's pixels."""

    label: str
    box: list[float]
    """``[x1, y1, x2, y2]``."""
    polygons: list[list[list[float]]] = Field(default_factory=list)
    point: list[float] | None = None
    mask: dict[str, Any] | None = None
    """The binary mask as COCO RLE (``{"size": [h, w], "counts": "..."}``), in mask mode."""

    def to_region(self) -> Region:
        return Region(
            box=tuple(self.box),  # type: ignore[arg-type]
            polygons=tuple(tuple(tuple(p) for p in polygon) for polygon in self.polygons),  # type: ignore[misc]
            point=tuple(self.point) if self.point else None,  # type: ignore[arg-type]
            label=self.label,
        )

    @classmethod
    def given(cls, region: Region, mode: str, image_size: tuple[int, int] | None = None) -> RegionRecord:
        """The region as a model in ``mode`` reads it; a mask needs the image's (W, H)."""
        mask = None
        if mode == "mask" and image_size is not None:
            import numpy as np

            from vipbench.rle import encode

            mask = encode(np.asarray(region.mask(image_size)) > 0)
        return cls(
            label=region.label,
            box=list(region.box),
            polygons=[[list(p) for p in polygon] for polygon in region.polygons],
            point=list(region.center) if mode == "point" else None,
            mask=mask,
        )


class OutputRegionRecord(_Record):
    """A region the model produced (``vipbench.models.base.OutputRegion``), in the original image's pixels."""

    box: list[float] | None = None
    """``[x1, y1, x2, y2]``: the decoded box, or a mask's tight box where the model decodes only a mask."""
    mask: dict[str, Any] | None = None
    """COCO compressed RLE at the image's own resolution (``{"size": [h, w], "counts": "..."}``)."""
    source: str = "decoded"


class PredictionRecord(_Record):
    """One line of predictions.jsonl."""

    task: str
    sample_id: str
    prompt_style: str | None = None
    region_mode: str
    prediction: str
    prompt: str
    """The question text the model received (in mask, box and point modes with ``<region>`` tokens)."""
    template: str | None = None
    """The question with ``<obj>`` placeholders, when the task has one (the official ViP-Bench re-ask uses it)."""
    references: list[str]
    """Carried along so that judging and the leaderboard read only this file, never the dataset."""
    metadata: dict[str, Any] = Field(default_factory=dict)
    image: str
    overlays: list[dict[str, Any]] = Field(default_factory=list)
    """The visual prompts drawn onto ``image`` (overlay mode)."""
    regions: list[RegionRecord] = Field(default_factory=list)
    """The regions the model was given, in ``<region>`` order (mask, box and point modes)."""
    model_input: str | None = None
    """The full text the model read, after its conversation template (None for models that do not say)."""
    input_ids_hash: str | None = None
    """A hash of the token ids the model was given."""
    model_metadata: dict[str, Any] = Field(default_factory=dict)
    """What else the model returned beside the answer text (an adapter's own details)."""
    output_regions: list[OutputRegionRecord] = Field(default_factory=list)
    """The regions the model produced (decoded boxes, ``[SEG]`` masks), in output order: grading reads them here."""
    doc_hash: str
    prompt_hash: str
    target_hash: str
    seconds: float
    """Wall time of the batch this sample was in, divided by the batch size."""

    @property
    def key(self) -> tuple[str, str, str | None]:
        return (self.task, self.sample_id, self.prompt_style)

    @property
    def unit(self) -> str:
        return unit_name(self.task, self.prompt_style)

    @property
    def question(self) -> str:
        """The prompt as a person or a judge reads it: each ``<region>`` token spelled out as its pixel box."""
        regions = iter(self.regions)

        def spell(_match) -> str:
            region = next(regions, None)
            if region is None:
                return REGION_TOKEN
            return "the region [" + ", ".join(str(round(v)) for v in region.box) + "]"

        return re.sub(re.escape(REGION_TOKEN), spell, self.prompt)


# ------------------------------------------------------------------------------------------- fingerprints
# What a record carries to tell two runs' data, prompts and targets apart: each prediction its sample's, a task's
# provenance the roll-up of its samples' (lm-evaluation-harness keeps doc, prompt and target hashes alike).


def sample_hash(sample: Sample) -> str:
    """The sample as the task's loader read it: id, question, references, regions, image names, metadata."""
    return stable_hash(
        {
            "id": sample.id,
            "question": sample.question,
            "template": sample.template,
            "references": sample.references,
            "regions": [r.__dict__ for r in sample.regions],
            "image": sample.image.name if sample.image else None,
            "source_image": sample.source_image.name if sample.source_image else None,
            "metadata": sample.metadata,
        }
    )


def target_hash(sample: Sample) -> str:
    return stable_hash(list(sample.references))


def images_hash(samples: Sequence[Sample]) -> str:
    """The content of every image the samples use, each file read once."""
    digests: dict[Path, str] = {}
    for s in samples:
        for path in (s.image, s.source_image):
            if path is not None and path not in digests and path.is_file():
                digests[path] = hashlib.sha256(path.read_bytes()).hexdigest()
    return stable_hash([[s.id, digests.get(s.image), digests.get(s.source_image)] for s in samples])


def request_hash(request: Request) -> str:
    """What the model is asked: the text and the visual prompts drawn for it."""
    return sha256_text(request.text + json.dumps([o.to_dict() for o in request.overlays], sort_keys=True))


def prediction_record(request: Request, answer: str | Generation, seconds: float = 0.0) -> PredictionRecord:
    """The predictions.jsonl line for one answer (the runner writes it; the lmms-eval hooks grade it)."""
    from vipbench.imaging import image_size
    from vipbench.models.base import Generation

    sample = request.sample
    generation = answer if isinstance(answer, Generation) else Generation(answer)
    size = image_size(request.image_path) if request.region_mode == "mask" and request.regions else None
    return PredictionRecord(
        task=request.task,
        sample_id=sample.id,
        prompt_style=request.prompt_style,
        region_mode=request.region_mode,
        prediction=generation.text,
        prompt=request.text,
        model_input=generation.model_input,
        input_ids_hash=generation.input_ids_hash,
        model_metadata=dict(generation.metadata),
        output_regions=[
            OutputRegionRecord(box=list(r.box) if r.box else None, mask=r.mask, source=r.source)
            for r in generation.regions
        ],
        template=sample.template,
        references=list(sample.references),
        metadata=dict(sample.metadata),
        image=str(request.image_path),
        overlays=[o.to_dict() for o in request.overlays],
        regions=[RegionRecord.given(r, request.region_mode, size) for r in request.regions],
        doc_hash=sample_hash(sample),
        prompt_hash=request_hash(request),
        target_hash=target_hash(sample),
        seconds=round(seconds, 4),
    )


class MetricSpec(_Record):
    """A metric as a run recorded it: the version in use when the run was made, and its arguments."""

    name: str
    version: int
    args: dict[str, Any] = Field(default_factory=dict)


class ReaskSpec(_Record):
    """How an unparseable reply is asked again (the official grader: up to 5 times, 0.5 hotter each time)."""

    attempts: int = 5
    temperature_step: float = 0.5
    suffix: str = ""
    """Appended to the prompt on every re-ask."""
    parse_last: bool = True
    """Whether the last re-ask's reply is read: the official ViP-Bench grader never reads it (the grade fails)."""


class TemplateSpec(_Record):
    """A judge prompt template, kept whole so that a run can be judged with the prompt it was planned with."""

    source: str
    text: str
    """Jinja2 source of the user message."""
    constants: dict[str, Any] = Field(default_factory=dict)
    """Extra variables: the prompt read out of an official grader script, the rules of an official rule.json."""
    official: bool = False
    """Read from the official grader script: re-asks then ask the ``<obj>`` question, as that script does."""
    reask_suffix: str | None = None
    """The official script's re-ask line, which then replaces the judge's own."""
    sha256: str


class JudgeSpec(_Record):
    """An LLM judge protocol with its model, template and number of runs: everything that decides a grade."""

    name: str
    version: int
    model: str
    runs: int
    parser: str
    parser_version: int
    scale: float
    """The reply's full-marks value: a reply of ``scale`` is 10 on vipbench's 0–10 scale."""
    temperature: float
    max_tokens: int
    reask: ReaskSpec
    system: str | None = None
    assistants: tuple[str, str] | None = None
    """A pairwise review: the values the first and second scores are, as the answers are shown."""
    swapped: bool = False
    """The two answers shown the other way round (``--swap-check``)."""
    rules: str | None = None
    """``official``: the upstream grader's reading, re-asks and failure rule; ``vipbench``: vipbench's own; None
    in runs recorded before there was a choice (vipbench's own, with failed grades left out)."""
    failed: dict[str, float] | None = None
    """What a grade that stays unparseable counts as, in the parser's terms (the official rule: ViP-Bench's 0.0,
    LLaVA-Bench's [-1, -1]); None: it is left out of every number."""
    template: TemplateSpec


class ScorerSpec(_Record):
    """A task's scoring as ``vipbench run`` recorded it: the scorer, the metric or judge feeding it, and the
    breakdowns. ``vipbench judge`` grades from this, never from the task's current YAML."""

    name: str
    version: int
    args: dict[str, Any] = Field(default_factory=dict)
    metric: MetricSpec | None = None
    judge: JudgeSpec | None = None
    breakdowns: list[str] = Field(default_factory=list)
    combinations: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)

    @property
    def grader(self) -> str:
        """``metric:<name>`` or ``judge:<name>``."""
        return f"metric:{self.metric.name}" if self.metric else f"judge:{self.judge.name}"  # type: ignore[union-attr]

    @property
    def runs(self) -> int:
        return self.judge.runs if self.judge else 1


class GroupSpec(_Record):
    """A score over several tasks of one run, such as VCR's Q→AR (joint over Q→A and QA→R)."""

    group: str
    tasks: list[str]
    scorer: str
    version: int
    args: dict[str, Any] = Field(default_factory=dict)


class TaskProvenance(_Record):
    version: int
    source: str
    """``hf:<repo>@<commit>``, a local folder, or ``generated``."""
    samples: int
    full_samples: int | None = None
    """The task's samples before ``--limit`` cut them (None in runs made before it was recorded)."""
    dataset_hash: str
    """Hash of every sample's id, question, references and regions."""
    prompt_hash: str
    """Hash of every request's text and overlays, per prompt style."""
    image_hash: str | None = None
    """Hash of the bytes of every image the samples use (the content, whatever its source)."""
    target_hash: str | None = None
    """Hash of every sample's references."""
    task_hash: str | None = None
    """The per-sample prompt and target hashes (as predictions.jsonl records them) rolled up, in request order."""
    input_region: str | None = None
    """``none``: the task gives the model no region, only the whole image and the question in text (POPE, REC, RES),
    so the region mode decides nothing; ``given``: its regions are rendered in the region mode; None in runs made
    before it was recorded."""
    rendering: dict[str, Any] | None = None
    """How the task's visual prompts are drawn (renderer version, size anchor, shapes, colours, alphas, seeding)."""
    requests: dict[str, int]
    """The requests planned per scored unit (``task`` or ``task@style``): what a complete run predicts."""
    asked: int | None = None
    """How many of them the model is asked: identical requests are asked once, their answer recorded for each."""
    generation: dict[str, Any]
    protocol: str | None = None
    """``official`` (the model family's own script's settings) or ``vipbench`` (vipbench's own choices over it);
    None in runs made before protocols were recorded."""
    family: str | None = None
    """The model family whose script the protocol follows (None: a model without one)."""
    follows: str | None = None
    """The script followed: ``owner/repo@commit path``."""
    protocol_note: str | None = None
    """Why that script, where the family has none of its own for the task."""
    deviations: list[str] = Field(default_factory=list)
    """Every setting that differs from the official protocol's (``--protocol vipbench``, ``--temperature``,
    ``--conv-template``, ...): a score with any is not comparable with the paper's."""
    scoring: ScorerSpec
    """Everything ``vipbench judge`` needs to grade and score this task, without its YAML."""


class RunSpec(_Record):
    """Everything that decides a run's predictions; a resumed run must match it."""

    model: str
    tasks: list[str]
    limit: int | None = None
    region_mode: str | None = None
    prompt_styles: list[str] = Field(default_factory=list)
    data_dirs: dict[str, str] = Field(default_factory=dict)
    model_options: dict[str, Any] = Field(default_factory=dict)
    """Adapter options that change outputs: model_path, dtype, conv_template, image_preprocess."""
    generation: dict[str, Any] = Field(default_factory=dict)
    """Command-line overrides of generation settings."""
    protocol: str = "official"
    """``official``: each task as the model family's own script runs it; ``vipbench``: vipbench's own settings."""
    finetuned_on: list[str] = Field(default_factory=list)
    """Tasks the checkpoint was fine-tuned on (``--finetuned-on``): their scores are labelled so, and never
    ranked with zero-shot results."""


class Manifest(_Record):
    run_id: str
    created: str
    updated: str
    status: str
    """As last written: ``running``, ``interrupted`` (Ctrl-C or SIGTERM), ``failed`` (an error) or ``complete``.
    A process killed outright leaves ``running``: ``vipbench.store.run_status`` tells the truth from ``pid``,
    ``host`` and the heartbeat file."""
    pid: int | None = None
    host: str | None = None
    """The process generating the run, and its machine."""
    command: list[str]
    spec: RunSpec
    model: dict[str, Any]
    """The adapter's own description: checkpoint, template, preprocessing, dtype, device."""
    tasks: dict[str, TaskProvenance]
    groups: dict[str, GroupSpec] = Field(default_factory=dict)
    """Scores computed over several of the run's tasks (VCR's Q→AR), by group name."""
    environment: dict[str, Any]
    """vipbench version, git commit, python, platform, package versions."""
    processes: int = 1
    """How many processes generated the run at once (torchrun's WORLD_SIZE, the last time it ran)."""
    batch: dict[str, Any] = Field(default_factory=dict)
    """The batch size asked for, the largest used, out-of-memory back-offs, and the order requests ran in."""
    timings: dict[str, float] = Field(default_factory=dict)
    """Seconds spent planning (data and prompts), loading the model, generating and writing, by the last
    process that generated."""
    judges: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """Per judge-scored unit, as the last ``vipbench judge`` graded it: the judge model asked, the models the API
    reported answering, the template hash."""

    @property
    def planned(self) -> int:
        return sum(n for provenance in self.tasks.values() for n in provenance.requests.values())


class Usage(_Record):
    """Tokens, as the API counted them; those of replies that came through the Batch API apart (half price)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    batch_prompt_tokens: int = 0
    batch_completion_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(**{name: getattr(self, name) + getattr(other, name) for name in Usage.model_fields})

    @property
    def total(self) -> int:
        return sum(getattr(self, name) for name in Usage.model_fields)


class Judgement(_Record):
    """One line of judgements.jsonl: one grade of one prediction in one judge run.

    ``values`` hold the grade (``score`` on vipbench's 0–10 scale, and whatever else the grader reports, such
    as a parsed answer). They are empty exactly when ``status`` is ``failed``: a failed grade is reported,
    never counted as 0 or 10 (unless ``vipbench judge --failed-grade zero`` asks for the official rule).
    """

    grade_key: str
    """Hash of what decides this grade: grader and its version, judge model, endpoint, template, sampling, run,
    prediction."""
    task: str
    sample_id: str
    prompt_style: str | None = None
    run: int
    grader: str
    """``judge:<name>`` or ``metric:<name>``."""
    version: int
    """The grader's version."""
    judge_model: str | None = None
    """The model that was asked for."""
    reported_model: str | None = None
    """The model string the API answered with, e.g. a dated snapshot."""
    base_url: str | None = None
    """The endpoint the judge was asked at (None: OpenAI's), so a run can be judged again where it was."""
    template_hash: str | None = None
    status: str
    """``ok`` or ``failed``."""
    values: dict[str, Any] = Field(default_factory=dict)
    failure: str | None = None
    """Why a grade failed: ``unparseable`` (no usable score in any reply), ``request`` (the call failed after its
    retries), ``cost-limit``, or ``metric`` (the metric raised)."""
    error: str | None = None
    replies: list[str] = Field(default_factory=list)
    """Every raw reply, re-asks included."""
    attempts: int = 0
    cached: bool = False
    """True when every reply came from the cache."""
    usage: Usage = Field(default_factory=Usage)
    created: str

    @property
    def unit(self) -> str:
        return unit_name(self.task, self.prompt_style)

    @property
    def score(self) -> float | None:
        """The grade on vipbench's 0–10 scale."""
        return self.values.get("score")
