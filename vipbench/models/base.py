"""The contract every model adapter meets."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, ClassVar, Literal

from vipbench.errors import VipbenchError
from vipbench.types import Request


@dataclass(frozen=True)
class GenerationSettings:
    """Decoding settings. Temperature 0 means greedy, as in every paper recipe vipbench reproduces."""

    max_new_tokens: int = 1024
    temperature: float = 0.0
    top_p: float | None = None
    num_beams: int = 1
    seed: int = 0
    """When sampling: the run's base seed; each sample is sampled with its own seed derived from it
    (``vipbench.protocols.sample_seed``), recorded with its prediction."""
    # What the task's protocol asks of the model input (``vipbench.protocols``); None: the adapter's own choice.
    conv_template: str | None = None
    """The conversation template (LLaVA family: ``vicuna_v1``, ``llava_v1``)."""
    image_preprocess: str | None = None
    """LLaVA family: ``pad`` (expand2square), ``resize`` (squash) or ``crop``."""
    prefix: str | None = None
    """Osprey: the picture's introduction before the question (``vipbench.models.osprey.PREFIXES``)."""
    region_names: bool = True
    """Osprey: a region written "region1 <mask><pos>" (its training data) or bare "<mask><pos>" (its RefCOCOg
    script)."""
    postprocess: str | None = None
    """A family's own cleaning of the answer (Osprey's RefCOCOg script: ``osprey_caption``)."""

    @property
    def sampling(self) -> bool:
        return self.temperature > 0

    def merged(self, overrides: Mapping[str, Any]) -> GenerationSettings:
        known = {f.name for f in fields(self)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise VipbenchError(f"unknown generation setting(s) {unknown}; known: {sorted(known)}")
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def generate_kwargs(self, pad_token_id: int | None) -> dict[str, Any]:
        """These settings as transformers' ``generate`` arguments (sampling options only when sampling)."""
        kwargs: dict[str, Any] = {
            "max_new_tokens": self.max_new_tokens,
            "do_sample": self.sampling,
            "num_beams": self.num_beams,
            "pad_token_id": pad_token_id,
        }
        if self.temperature > 0:
            kwargs.update(temperature=self.temperature, top_p=self.top_p)
        return kwargs


@dataclass(frozen=True)
class Generation:
    """One answer, with what the model actually read, so a run records its exact input and not just the question.

    ``model_input`` is the full text after the model's conversation template (image placeholders as the model's
    own tokens), ``input_ids_hash`` a hash of the token ids it was given (``vipbench.records.ids_hash``), and
    ``metadata`` anything else the model returned beside the text (a decoded box, say)."""

    text: str
    model_input: str | None = None
    input_ids_hash: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    regions: list[OutputRegion] = field(default_factory=list)
    """The regions the model produced beside its text (a decoded box, a ``[SEG]`` mask), in output order."""


@dataclass(frozen=True)
class OutputRegion:
    """A region a model produced, in the pixels of the original image (not the padded or resized input), so
    grading and the leaderboard need neither the model nor its preprocessing."""

    box: tuple[float, float, float, float] | None = None
    """``(x1, y1, x2, y2)``: the box the model decoded (PerceptionGPT's ``<loc>``), or a mask's tight box where the
    model decodes only a mask (OMG-LLaVA's ``[SEG]``; None when the mask is empty)."""
    mask: dict[str, Any] | None = None
    """The binary mask as COCO compressed RLE (``vipbench.rle.encode``: ``{"size": [h, w], "counts": str}``)."""
    source: str = "decoded"
    """How the adapter got it: ``decoded`` (a box head, a ``[SEG]`` mask decoder)."""


class ModelAdapter(ABC):
    """Turns a batch of requests into answers.

    Subclasses declare the region modes they read, their paper-faithful generation defaults, and
    ``describe()`` everything else that decides their outputs (it goes into the run manifest).
    """

    region_modes: ClassVar[tuple[str, ...]] = ("overlay",)
    #: The model family whose evaluation scripts a task's protocol follows (``vipbench.protocols.FAMILIES``), or
    #: None for models without one (APIs, baselines): they run with the task's own settings.
    family: ClassVar[str | None] = None
    generation_defaults: ClassVar[GenerationSettings] = GenerationSettings()
    #: The runner's default batch size for this adapter; those whose outputs do not depend on the batch they are in
    #: can take larger batches.
    default_batch_size: ClassVar[int] = 1
    #: The batch size this adapter asks for, or None for the runner's default (``default_batch_size``): set by an
    #: adapter that decides once it knows where it runs (LLaVA: "auto", the largest batch that fits, on a GPU).
    #: ``--batch-size`` overrides both.
    batch_size: int | Literal["auto"] | None = None

    @abstractmethod
    def generate(self, requests: Sequence[Request], settings: GenerationSettings) -> list[str | Generation]:
        """One answer per request, in order: a ``Generation`` where the adapter knows what the model read."""

    def describe(self) -> dict[str, Any]:
        return {"adapter": type(self).__name__}

    def chat_template(self) -> str | None:
        """The conversation template the question is put in (``{question}`` where it goes), for the manifest's
        template hash; None for models that take the question as it is."""
        return None

    def begin_task(self, task: str, requests: Sequence[Request]) -> None:
        """Called with every request of a task before any is generated; most adapters ignore it."""

    def next_token_logits(self, requests: Sequence[Request]):
        """The logits of the first generated token, one row per request (tests use it to see that regions reach
        the model). Adapters without access to logits (APIs, baselines) need not implement it."""
        raise NotImplementedError

    def report(self) -> str | None:
        """A line to print when the run ends (an API model's requests and cost), or None."""
        return None


def seed_sampling(requests: Sequence[Request], settings: GenerationSettings) -> int | None:
    """Seed torch for the one request about to be sampled (None when decoding is greedy): each sample draws from
    its own seed, so its answer does not depend on the batch or the order it ran in. Adapters that sample generate
    one request at a time for that reason."""
    if not settings.sampling:
        return None
    if len(requests) != 1:
        raise VipbenchError("sampling is seeded per sample: generate one request at a time")
    import torch

    from vipbench.protocols import sample_seed

    seed = sample_seed(settings.seed, requests[0].task, requests[0].sample.id)
    torch.manual_seed(seed)
    return seed
