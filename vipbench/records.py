"""What vipbench writes to disk. One Pydantic model per line or file, so every stage reads what the
previous one wrote with validation, and a reader can tell what produced each number."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def stable_hash(obj: Any) -> str:
    return sha256_text(json.dumps(obj, sort_keys=True, ensure_ascii=False, default=str))


def unit_name(task: str, prompt_style: str | None) -> str:
    """A scored unit: a task, or a task with its regions redrawn in one shape (``vip-bench-bbox@arrow``)."""
    return task if prompt_style is None else f"{task}@{prompt_style}"


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PredictionRecord(_Record):
    """One line of predictions.jsonl."""

    task: str
    sample_id: str
    prompt_style: str | None = None
    region_mode: str
    prediction: str
    prompt: str
    """The question text the model received."""
    references: list[str]
    """Carried along so that judging and the leaderboard read only this file, never the dataset."""
    metadata: dict[str, Any] = Field(default_factory=dict)
    image: str
    overlays: list[dict[str, Any]] = Field(default_factory=list)
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


class TaskProvenance(_Record):
    version: int
    source: str
    """``hf:<repo>@<commit>``, a local folder, or ``generated``."""
    samples: int
    dataset_hash: str
    """Hash of every sample's id, question, references and regions."""
    prompt_hash: str
    """Hash of every request's text and overlays, per prompt style."""
    generation: dict[str, Any]
    scorer: dict[str, Any]


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


class Manifest(_Record):
    run_id: str
    created: str
    updated: str
    status: str
    """``running``, ``interrupted`` (Ctrl-C or SIGTERM), ``failed`` (an error) or ``complete``; any but
    ``complete`` can be resumed."""
    command: list[str]
    spec: RunSpec
    model: dict[str, Any]
    """The adapter's own description: checkpoint, template, preprocessing, dtype, device."""
    tasks: dict[str, TaskProvenance]
    environment: dict[str, Any]
    """vipbench version, git commit, python, platform, package versions."""


class Usage(_Record):
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
        )


class Judgement(_Record):
    """One line of judgements.jsonl: one grade of one prediction in one judge run.

    ``score`` is on vipbench's 0–10 scale and is None exactly when ``status`` is ``failed``: a failed grade
    is reported, never counted as 0 or 10.
    """

    grade_key: str
    """Hash of what decides this grade: scorer, judge model, endpoint, template, sampling, run, prediction."""
    task: str
    sample_id: str
    prompt_style: str | None = None
    run: int
    scorer: str
    """``judge:<name>`` or ``metric:<name>``."""
    judge_model: str | None = None
    """The model that was asked for."""
    reported_model: str | None = None
    """The model string the API answered with, e.g. a dated snapshot."""
    template_hash: str | None = None
    status: str
    """``ok`` or ``failed``."""
    score: float | None = None
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
