"""Evaluation protocols: per task and model family, what that family's own evaluation script does (issue 23).

A task YAML's ``protocols:`` block names, per family (``llava``, ``osprey``, ``omg-llava``, ``perceptiongpt``), the
script it follows and the settings that make the model input that script's: the conversation template, the
question, the image preprocessing and the decoding. The default run (``--protocol official``) uses them; ``vipbench
run --protocol vipbench`` applies the task's own ``generation:`` block on top (greedy where upstream samples), and
every setting that then differs from the official one is a named deviation in the manifest, as is every
command-line override (``--temperature``, ``--conv-template``, ...).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from vipbench.errors import VipbenchError

OFFICIAL, VIPBENCH = "official", "vipbench"
PROTOCOLS = (OFFICIAL, VIPBENCH)
FAMILIES = ("llava", "osprey", "omg-llava", "perceptiongpt")
#: Model options that decide the model input the way a protocol setting does: overriding them is a deviation.
INPUT_OPTIONS = ("conv_template", "image_preprocess", "prefix")
#: Where a protocol's question puts the sample's referring expression (Shikra's and PerceptionGPT's placeholder).
EXPR = "<expr>"


@dataclass(frozen=True)
class ProtocolConfig:
    """One family's protocol for one task, as the task YAML declares it."""

    follows: str
    """The script followed: ``owner/repo@commit path`` (or the harness whose script is borrowed)."""
    why: str = ""
    """Why this script, where the family has none of its own for the task."""
    question: str | None = None
    """The question the script asks instead of the task's (``<obj>`` where the region goes, ``<expr>`` the
    sample's referring expression)."""
    drop_suffix: str | None = None
    """Text the task appends to its questions that this script does not (Osprey's POPE asks the bare question)."""
    references: str = "all"
    """``all`` the task's references, or ``first``: one per item, as the script's ground-truth file holds."""
    generation: Mapping[str, Any] = field(default_factory=dict)
    """Decoding and input settings (``vipbench.models.base.GenerationSettings`` fields)."""
    marker: Marker | None = None
    """How an overlay model sees the region when the script draws its own marker (lmms-eval's 1-px red box),
    drawn on every region of the sample whether or not the question names it."""


@dataclass(frozen=True)
class Marker:
    """A script's own region marker: a shape (``vipbench.prompting.shapes``), a colour and its opacity."""

    shape: str
    color: str
    alpha: int = 255


@dataclass(frozen=True)
class Protocol:
    """The protocol a run uses for one task: what the manifest records."""

    name: str
    family: str | None
    follows: str | None
    why: str
    config: ProtocolConfig | None
    deviations: tuple[str, ...] = ()


def check_protocol(name: str) -> str:
    if name not in PROTOCOLS:
        raise VipbenchError(f"unknown protocol {name!r}; choose from {', '.join(PROTOCOLS)}")
    return name


def deviations(official: Mapping[str, Any], used: Mapping[str, Any]) -> tuple[str, ...]:
    """``key=used (official: value)`` for every setting that differs from the official protocol's."""
    return tuple(
        f"{k}={used.get(k)!r} (official: {official.get(k)!r})"
        for k in sorted(set(official) | set(used))
        if official.get(k) != used.get(k)
    )


def sample_seed(base: int, task: str, sample_id: str) -> int:
    """The seed one sample is sampled with: fixed by the run's base seed, the task and the sample, so a sampled
    answer does not depend on the batch it ran in or the order of the run."""
    digest = hashlib.sha256(f"{base}\0{task}\0{sample_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def apply_to_samples(config: ProtocolConfig | None, samples: Sequence[Any]) -> list[Any]:
    """The samples as the script reads them: its question, without the suffix it does not ask, its references."""
    if config is None:
        return list(samples)
    return [_applied(config, s) for s in samples]


def _applied(config: ProtocolConfig, sample: Any) -> Any:
    changes: dict[str, Any] = {}
    if config.question is not None:
        text = _question(config.question, sample)
        # A sample with no region has nothing to draw: the question is the same in every region mode.
        changes.update(template=text, question=None if sample.regions else text)
    if config.drop_suffix:
        for key in ("question", "template"):
            text = changes.get(key, getattr(sample, key))
            if text is not None and text.endswith(config.drop_suffix):
                changes[key] = text.removesuffix(config.drop_suffix)
    if config.references == "first":
        changes["references"] = tuple(sample.references[:1])
    if config.marker is not None:
        marker = config.marker
        changes["metadata"] = {
            **sample.metadata,
            "prompt_style": marker.shape,
            "prompt_colors": [marker.color] * len(sample.regions),
            "prompt_alpha": marker.alpha,
        }
    return replace(sample, **changes) if changes else sample


def _question(question: str, sample: Any) -> str:
    """The script's question for one sample: ``<expr>`` is its referring expression (REC, RES)."""
    if EXPR not in question:
        return question
    expression = sample.metadata.get("expression")
    if expression is None:
        raise VipbenchError(f"sample {sample.id}: the protocol's question has {EXPR} but the sample has no expression")
    return question.replace(EXPR, str(expression))
