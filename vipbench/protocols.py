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
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from vipbench.errors import VipbenchError
from vipbench.upstream_files import PinnedFile, fetch

OFFICIAL, VIPBENCH = "official", "vipbench"
PROTOCOLS = (OFFICIAL, VIPBENCH)
FAMILIES = ("llava", "osprey", "omg-llava", "perceptiongpt")
#: Model options that decide the model input the way a protocol setting does: overriding them is a deviation.
INPUT_OPTIONS = ("conv_template", "image_preprocess", "prefix")
#: Where a protocol's question puts the sample's referring expression (Shikra's and PerceptionGPT's placeholder).
EXPR = "<expr>"
#: Shikra's (PerceptionGPT's) template placeholders: the sample's question, and its region(s) (``<objs>`` in REG
#: templates, ``<boxes>`` elsewhere; each becomes the sample's ``<obj>`` placeholder, so the adapter writes it).
QUESTION, REGION_PLACEHOLDERS = "<question>", ("<objs>", "<boxes>")
#: Upstream question-template files a protocol draws its question from, one per sample (``template_file:``). They
#: are upstream prose: read from vipbench's cache or downloaded at the pinned commit and hash-checked, never
#: embedded (``vipbench.upstream_files``).
_PGPT_REPO, _PGPT_COMMIT = "pipilurj/perceptionGPT", "fd8e3eb1a3afdcbfcb9cbd8880f096a6b7951258"
TEMPLATE_FILES: dict[str, PinnedFile] = {
    f"perceptiongpt-{name.lower()}": PinnedFile(
        _PGPT_REPO, _PGPT_COMMIT, f"config/_base_/dataset/template/{name}.json", sha
    )
    for name, sha in (
        ("VQA", "54b48684319c36184fb0900cd2b9164742dba97a9d93956e1af6a284376c53ae"),
        ("REG", "33ec6b4c36c5b17dd0341d9129ce1f4914058c553eaf9083e18321a72ddd8b78"),
        ("REC", "a52490ee2826c255d05b38fb4d1e5413c50c39d1f77cc48f09671a872b69fb3d"),
        ("RES", "5c82a84c412936f128ce5bed15f7791eb35f7858e8dd5d985ceeadd9dd73426a"),
    )
}
#: ``$VIPBENCH_PROTOCOL_TEMPLATES``: ``official`` (default) reads the template files; ``vipbench`` asks the protocol's
#: fixed ``question:`` (or the task's own) instead, a recorded deviation (an offline CI without the files).
TEMPLATES_ENV = "VIPBENCH_PROTOCOL_TEMPLATES"


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
    template_file: str | None = None
    """A key of ``TEMPLATE_FILES``: the question is one of that file's templates, drawn per sample as upstream
    draws it (uniformly; seeded by ``sample_seed``), ``<question>`` the sample's question (without ``drop_suffix``),
    ``<expr>`` its expression, ``<objs>``/``<boxes>`` its region, ``<image>`` where the image goes. Without the
    file (``$VIPBENCH_PROTOCOL_TEMPLATES=vipbench``) ``question`` is asked, else the task's own: a deviation."""
    question_layout: str | None = None
    """The name of the layout the script's dataset writes the sample's question in (Shikra's VCR options, its
    PointQA question with the exemplar's box after it): ``<question>`` of the drawn template is then the sample's
    ``metadata["question_layouts"][name]``, written by the task's loader, ``<objN>`` where the regions go."""


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


def apply_to_samples(config: ProtocolConfig | None, samples: Sequence[Any], seed: int = 0, task: str = "") -> list[Any]:
    """The samples as the script reads them: its question (drawn from its template file per sample, seeded by the
    run's ``seed``, the ``task`` and the sample), without the suffix it does not ask, its references."""
    if config is None:
        return list(samples)
    templates = question_templates(config)
    if templates is not None:
        return [_templated(config, s, templates, sample_seed(seed, task, s.id)) for s in samples]
    return [_applied(config, s) for s in samples]


def templates_official() -> bool:
    value = os.environ.get(TEMPLATES_ENV) or OFFICIAL
    if value not in PROTOCOLS:
        raise VipbenchError(f"{TEMPLATES_ENV}={value!r}: expected official or vipbench")
    return value == OFFICIAL


def template_file(name: str) -> PinnedFile:
    if name not in TEMPLATE_FILES:
        raise VipbenchError(f"unknown question-template file {name!r} (known: {', '.join(sorted(TEMPLATE_FILES))})")
    return TEMPLATE_FILES[name]


def question_templates(config: ProtocolConfig) -> list[str] | None:
    """The templates of the protocol's file, None when it has none or ``$VIPBENCH_PROTOCOL_TEMPLATES=vipbench``;
    the file's absence offline is one error line saying where to get it."""
    if config.template_file is None or not templates_official():
        return None
    pin = template_file(config.template_file)
    path = fetch(pin, lambda url, why: _missing_templates(pin, url, why))
    assert path is not None
    templates = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(templates, list) or not templates or not all(isinstance(t, str) for t in templates):
        raise VipbenchError(f"{path}: expected a JSON list of question templates")
    return templates


def template_deviations(config: ProtocolConfig | None) -> tuple[str, ...]:
    """The deviation of a run that asks a fixed question where the protocol draws one from its template file."""
    if config is None or config.template_file is None or templates_official():
        return ()
    asked = repr(config.question) if config.question else "the task's own"
    label = template_file(config.template_file).label
    return (f"question={asked} ({TEMPLATES_ENV}=vipbench; official: drawn per sample from {label})",)


def _missing_templates(pin: PinnedFile, url: str, why: str) -> str:
    return (
        f"the official protocol asks questions from upstream's {pin.label} and {why}: download {url} to "
        f"{pin.cache_path()}, or set {TEMPLATES_ENV}=vipbench for a fixed question (a recorded deviation)"
    )


def draw_template(templates: Sequence[str], seed: int) -> str:
    """One template, as upstream's ``MInstrDataset.get_template`` draws it (``numpy.random.default_rng(seed)
    .choice``: uniform), from the sample's own seed."""
    import numpy as np

    return str(np.random.default_rng(seed).choice(list(templates)))


def _templated(config: ProtocolConfig, sample: Any, templates: Sequence[str], seed: int) -> Any:
    """The sample asked with a template drawn from the file: the question, expression and region put in."""
    own = sample.template if sample.template is not None else sample.question
    if config.question_layout is not None:
        own = _layout(config.question_layout, sample)
    elif config.drop_suffix and own is not None:
        own = own.removesuffix(config.drop_suffix)
    text = draw_template(templates, seed).replace(QUESTION, own or "")
    if EXPR in text:
        text = _question(text, sample)
    for placeholder in REGION_PLACEHOLDERS:
        if placeholder in text:
            if len(sample.regions) != 1:
                raise VipbenchError(f"sample {sample.id}: the template's {placeholder} needs one region")
            text = text.replace(placeholder, f"<{sample.regions[0].label}>")
    changes: dict[str, Any] = {"template": text, "question": None if sample.regions else text}
    if config.references == "first":
        changes["references"] = tuple(sample.references[:1])
    return replace(sample, **changes)


def _layout(name: str, sample: Any) -> str:
    layout = (sample.metadata.get("question_layouts") or {}).get(name)
    if not isinstance(layout, str):
        raise VipbenchError(
            f"sample {sample.id}: the protocol asks the question in the {name!r} layout; the task wrote no such layout"
        )
    return layout


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
