"""``lmms-eval --model vipbench --model_args model=NAME[,option=value...]``: a vipbench model adapter in lmms-eval.

The options are the adapter's own (``vipbench models``; the same as ``vipbench run --model-args``), checked and
converted by vipbench. Each lmms-eval request becomes a vipbench ``Request``:

- a doc of a task exported by ``vipbench export-lmms`` is rebuilt into exactly the request ``vipbench run``
  gives this adapter: in the region mode the task was exported in when the adapter reads it, else in the mode
  vipbench would choose for the adapter (an Osprey gets masks, not drawn boxes), with ``vipbench run``'s
  generation settings (the context string lmms-eval built for it is not used);
- any other lmms-eval task gives its context text and its one image, which the adapter reads as it is.

Only ``generate_until`` exists: vipbench adapters generate text and expose no log-likelihoods.
"""

from __future__ import annotations

import inspect
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from lmms_eval.api.model import lmms

from vipbench.errors import VipbenchError
from vipbench.models.base import Generation, GenerationSettings
from vipbench.types import Request, Sample

#: lmms-eval generation kwargs that vipbench's GenerationSettings understands.
_SETTINGS = ("max_new_tokens", "temperature", "top_p", "num_beams")


class VipbenchLMM(lmms):
    is_simple = True

    def __init__(
        self,
        model: str | None = None,
        batch_size: int | str | None = 1,
        device: str | None = None,
        max_batch_size: int | None = None,
        **options: Any,
    ) -> None:
        super().__init__()
        from vipbench.batching import BatchSize
        from vipbench.models import MODELS, create_model, parse_model_args

        if not model:
            raise VipbenchError("name the vipbench model: --model_args model=NAME (vipbench models lists them)")
        args = parse_model_args(model, ",".join(f"{k}={_text(v)}" for k, v in options.items()))
        cls = MODELS.entry(model).load()
        if device and "device" in inspect.signature(cls).parameters and "device" not in args:
            args["device"] = device
        self.model_name = model
        self.adapter = create_model(model, **args)
        requested = batch_size if batch_size == "auto" else int(batch_size or self.adapter.default_batch_size)
        self.size = BatchSize.start(requested)
        self._images = tempfile.TemporaryDirectory(prefix="vipbench-lmms-")

    # ------------------------------------------------------------------------------------------ lmms API

    def generate_until(self, requests) -> list[str]:
        from vipbench.batching import batches
        from vipbench.lmms.hooks import remember_regions

        answers: list[str | None] = [None] * len(requests)
        units: dict[tuple[str, GenerationSettings], list[tuple[int, Request, list[str]]]] = {}
        for i, instance in enumerate(requests):
            context, gen_kwargs, doc_to_visual, doc_id, task, split = instance.args
            doc = self.task_dict[task][split][doc_id]
            request, settings = self._request(context, doc, doc_to_visual, task, doc_id)
            settings = _with_kwargs(settings, gen_kwargs)
            until = [s for s in gen_kwargs.get("until") or [] if s]
            units.setdefault((request.task, settings), []).append((i, request, until))
        for (task, settings), members in units.items():
            wanted = [request for _, request, _ in members]
            self.adapter.begin_task(task, wanted)
            made: dict[int, Generation] = {}
            for batch, outputs, _ in batches(self.adapter, wanted, settings, self.size):
                made.update((id(r), o if isinstance(o, Generation) else Generation(o)) for r, o in zip(batch, outputs))
            for i, request, until in members:
                answers[i] = _cut(made[id(request)].text, until)
                remember_regions(requests[i].args[4], request.sample.id, made[id(request)].regions)
                self.cache_hook.add_partial("generate_until", requests[i].args[:2], answers[i])
        return [a or "" for a in answers]

    def loglikelihood(self, requests) -> list[tuple[float, bool]]:
        raise NotImplementedError(
            f"vipbench model {self.model_name!r} only generates text: vipbench adapters give no log-likelihoods, "
            "so multiple-choice tasks scored by loglikelihood cannot run on it (use a generate_until task)"
        )

    def generate_until_multi_round(self, requests) -> list[str]:
        raise NotImplementedError(f"vipbench model {self.model_name!r} answers single-turn requests only")

    # ------------------------------------------------------------------------------------------ requests

    def _request(self, context: str, doc: Mapping[str, Any], doc_to_visual, task: str, doc_id: int):
        from vipbench.lmms.docs import is_vipbench_doc, vipbench_task
        from vipbench.lmms.hooks import export_of

        export = export_of(task)
        defaults = self.adapter.generation_defaults
        if export is not None and is_vipbench_doc(doc):
            vip_task = vipbench_task(doc, export.record.include_paths)
            mode = self._region_mode(vip_task, doc["region_mode"])
            return export.request(doc, mode), defaults.merged(vip_task.config.generation)
        return self._plain_request(context, doc_to_visual(doc), task, doc_id), defaults

    def _region_mode(self, task, exported_mode: str) -> str:
        from vipbench.planning import choose_region_mode

        requested = exported_mode if exported_mode in type(self.adapter).region_modes else None
        return choose_region_mode(task, type(self.adapter), requested)

    def _plain_request(self, context: str, visuals: Sequence[Any] | Any, task: str, doc_id: int) -> Request:
        """Another lmms-eval task's doc: its one image, saved for the adapter, and its context as the question."""
        visuals = visuals if isinstance(visuals, (list, tuple)) else [visuals]
        if len(visuals) != 1 or not hasattr(visuals[0], "save"):
            raise VipbenchError(
                f"{task}: vipbench models read one image per question; doc {doc_id} gives {len(visuals)} visual(s)"
            )
        path = Path(self._images.name) / f"{task}-{doc_id}.png"
        visuals[0].convert("RGB").save(path)
        sample = Sample(id=str(doc_id), image=path, question=context, references=(), source_image=path)
        return Request(task, sample, context, path, type(self.adapter).region_modes[0])


def _with_kwargs(settings: GenerationSettings, gen_kwargs: Mapping[str, Any]) -> GenerationSettings:
    """lmms-eval's generation kwargs over the adapter's (and task's) settings. ``top_p`` counts only when
    sampling: lmms-eval's own POPE asks ``top_p: 0`` beside temperature 0."""
    given = {k: gen_kwargs[k] for k in _SETTINGS if gen_kwargs.get(k) is not None}
    if gen_kwargs.get("do_sample") is False:
        given["temperature"] = 0.0
    merged = settings.merged(given)
    if merged.temperature == 0:
        merged = replace(merged, top_p=settings.top_p)
    return merged


def _cut(text: str, until: Sequence[str]) -> str:
    """The answer up to the first stop string, as lmms-eval's own models cut theirs."""
    for stop in until:
        text = text.split(stop, 1)[0]
    return text


def _text(value: Any) -> str:
    """lmms-eval has already turned ``true``/``1.5`` into Python values; vipbench converts option text itself."""
    return str(value).lower() if isinstance(value, bool) else str(value)
