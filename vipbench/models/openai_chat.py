"""Models behind an OpenAI-compatible chat endpoint: ``openai:<model>`` (``openai:gpt-4o``), or any model a
vLLM or SGLang server serves (``--model-args base_url=http://host:8000/v1``), which is also how a run scales past
one machine.

Each request is one user message: the image as the model should see it (overlays drawn) as a base64 data URL,
then the question. Calls go through the judge's chat client (vipbench.chat): concurrency, retries with backoff,
a reply cache (``model-cache.sqlite``), token and dollar accounting; an endpoint that refuses the key, cannot be
reached, or accepts connections and never answers (``timeout``, 30 s) stops the run at once. Greedy by default,
as every recipe vipbench reproduces. Given ``box_convention`` (how the model writes a box), each prediction records
it, and REC grading reads it in preference to the task's.
"""

from __future__ import annotations

import asyncio
import base64
import io
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

from vipbench.chat.cache import ReplyCache, default_cache_path
from vipbench.chat.client import DEFAULT_TIMEOUT, ChatClient, ClientStats, describe_error
from vipbench.chat.pricing import load_prices, price_for, usage_cost
from vipbench.errors import VipbenchError
from vipbench.models.base import Generation, GenerationSettings, ModelAdapter
from vipbench.progress import live_detail
from vipbench.prompting import request_image
from vipbench.types import Request

#: How an API model may write a box (``vipbench.scoring.metrics.parse_box``; this module loads no scoring code).
BOX_CONVENTIONS = ("unit", "thousand", "pixel")


class OpenAIChatAdapter(ModelAdapter):
    """A vision-language model served over the OpenAI chat-completions API."""

    region_modes: ClassVar[tuple[str, ...]] = ("overlay", "coords")
    generation_defaults: ClassVar[GenerationSettings] = GenerationSettings(max_new_tokens=1024, temperature=0.0)
    #: A batch is sent concurrently, and written to predictions.jsonl when all of it is back.
    default_batch_size: ClassVar[int] = 32

    def __init__(
        self,
        model: str = "",
        base_url: str | None = None,
        concurrency: int = 16,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = 6,
        image_format: Literal["png", "jpeg"] = "png",
        detail: Literal["auto", "low", "high"] = "auto",
        box_convention: Literal["unit", "thousand", "pixel"] | None = None,
    ):
        """``timeout``: seconds each request waits for its answer to start (raise it for long answers from a slow
        server). ``box_convention``: how the model writes a box (REC): ``unit`` 0–1 of the image, ``thousand`` 0–1000
        integers, ``pixel``; recorded with each prediction, where grading reads it over the task's own (unset: the
        task's, lmms-eval's ``unit`` for REC)."""
        if not model:
            raise VipbenchError("an API model is named openai:<model>, e.g. openai:gpt-4o")
        if timeout <= 0:
            raise VipbenchError(f"the model argument timeout is in seconds, more than 0 (got {timeout:g})")
        self.model, self.base_url = model, base_url
        self.concurrency, self.timeout, self.max_retries = concurrency, timeout, max_retries
        self.image_format, self.detail = image_format, detail
        if box_convention is not None and box_convention not in BOX_CONVENTIONS:
            raise VipbenchError(f"box_convention is one of {', '.join(BOX_CONVENTIONS)} (got {box_convention!r})")
        self.box_convention = box_convention
        self.cache = ReplyCache(default_cache_path("model-cache.sqlite"))
        self.stats = ClientStats()
        self.prices = load_prices(None, base_url)

    def describe(self) -> dict[str, Any]:
        return {
            "adapter": type(self).__name__,
            "model": self.model,
            "endpoint": self.base_url or "https://api.openai.com/v1",
            "image_format": self.image_format,
            "detail": self.detail,
            "box_convention": self.box_convention,
        }

    def messages(self, request: Request) -> list[dict[str, Any]]:
        buffer = io.BytesIO()
        request_image(request).save(buffer, format=self.image_format.upper())
        url = f"data:image/{self.image_format};base64,{base64.b64encode(buffer.getvalue()).decode()}"
        image = {"type": "image_url", "image_url": {"url": url, "detail": self.detail}}
        return [{"role": "user", "content": [image, {"type": "text", "text": request.text}]}]

    def generate(self, requests: Sequence[Request], settings: GenerationSettings) -> list[str | Generation]:
        texts = asyncio.run(self._generate(requests, settings))
        if self.box_convention is None:
            return list(texts)
        return [Generation(text, metadata={"box_convention": self.box_convention}) for text in texts]

    async def _generate(self, requests: Sequence[Request], settings: GenerationSettings) -> list[str]:
        # A client per batch: its connections and semaphore belong to this batch's event loop.
        client = ChatClient(
            self.cache,
            base_url=self.base_url,
            concurrency=self.concurrency,
            timeout=self.timeout,
            max_retries=self.max_retries,
            prices=lambda model: price_for(model, self.prices),
            who="model",
            model_flag="--model openai:<model>",
            timeout_flag="the timeout model argument (--model-args timeout=SECONDS)",
        )
        client.stats = self.stats
        try:
            with live_detail(client.activity):
                replies = await self._ask_all(client, requests, settings)
        finally:
            await client.close()
        for request, reply in zip(requests, replies):
            if isinstance(reply, BaseException):
                raise VipbenchError(
                    f"{self.model} failed on {request.task}/{request.sample.id} after its retries "
                    f"({describe_error(reply)}); vipbench run --resume continues the run"
                )
        return [reply.content.strip() for reply in replies]  # type: ignore[union-attr]

    async def _ask_all(
        self, client: ChatClient, requests: Sequence[Request], settings: GenerationSettings
    ) -> list[Any]:
        """Each request's reply, or the exception it ended with. An endpoint error (a refused key, a dead or
        silent endpoint) stops every call still waiting for a slot, instead of letting each meet its own deadline."""

        async def one(request: Request) -> Any:
            messages = self.messages(request)
            try:
                return await client.complete(self.model, messages, settings.temperature, settings.max_new_tokens, run=0)
            except VipbenchError:
                raise
            except Exception as exc:  # noqa: BLE001 - retries exhausted: reported with its request below
                return exc

        tasks = [asyncio.ensure_future(one(r)) for r in requests]
        try:
            return await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise

    def report(self) -> str | None:
        s = self.stats
        spent = usage_cost(s.usage, price_for(self.model, self.prices))
        money = "cost unknown (no price for this model)" if spent is None else f"${spent:.4f}"
        tokens = s.usage.total
        timeouts = f", {s.timeouts} timed out" if s.timeouts else ""
        calls = f"{s.requests} HTTP requests ({s.retries} retries{timeouts}), {s.cache_hits} cached"
        return f"{self.model}: {calls}, {tokens} tokens, {money}"
