"""Dollar prices of chat models (judges and API models), per million tokens (input, output), for cost estimates
and --cost-limit.

Published list prices at the time of writing; a user's own table (``--prices FILE``) overrides them.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from vipbench.errors import VipbenchError
from vipbench.records import Usage

Price = tuple[float, float]
"""Dollars per million (input, output) tokens."""

PRICES: dict[str, Price] = {
    "gpt-4-0314": (30.0, 60.0),
    "gpt-4-0613": (30.0, 60.0),
    "gpt-4": (30.0, 60.0),
    "gpt-4-turbo": (10.0, 30.0),
    "gpt-4-1106-preview": (10.0, 30.0),
    "gpt-4o": (2.5, 10.0),
    "gpt-4o-mini": (0.15, 0.6),
    "gpt-4.1": (2.0, 8.0),
    "gpt-4.1-mini": (0.4, 1.6),
    "gpt-4.1-nano": (0.1, 0.4),
}


def load_prices(path: Path | None, base_url: str | None = None) -> dict[str, Price]:
    """The built-in table (for OpenAI's own API only: a local or third-party endpoint serving a model under the
    same name is not billed at OpenAI's prices), updated from a YAML/JSON file mapping model → {input: $,
    output: $} per 1M tokens."""
    prices = dict(PRICES) if base_url is None or urlparse(base_url).hostname == "api.openai.com" else {}
    if path is None:
        return prices
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise VipbenchError(f"cannot read price table {path}: {exc}") from None
    if not isinstance(data, Mapping):
        raise VipbenchError(f"{path}: expected a mapping of model → {{input: price, output: price}}")
    for model, entry in data.items():
        try:
            prices[str(model)] = (float(entry["input"]), float(entry["output"]))
        except (TypeError, KeyError, ValueError):
            raise VipbenchError(
                f"{path}: {model}: expected {{input: <$ per 1M tokens>, output: <$ per 1M tokens>}}"
            ) from None
    return prices


def price_for(model: str, prices: Mapping[str, Price]) -> Price | None:
    """Exact match first, then the longest known prefix (``gpt-4o-2024-08-06`` → ``gpt-4o``)."""
    if model in prices:
        return prices[model]
    matches = [k for k in prices if model.startswith(k)]
    return prices[max(matches, key=len)] if matches else None


#: The Batch API's price, as a share of the live price (OpenAI: half).
BATCH_DISCOUNT = 0.5


def cost(prompt_tokens: int, completion_tokens: int, price: Price | None) -> float | None:
    if price is None:
        return None
    return (prompt_tokens * price[0] + completion_tokens * price[1]) / 1e6


def usage_cost(usage: Usage, price: Price | None) -> float | None:
    """Dollars for ``usage``: live tokens at ``price``, Batch API tokens at ``BATCH_DISCOUNT`` of it."""
    if price is None:
        return None
    live = cost(usage.prompt_tokens, usage.completion_tokens, price) or 0.0
    batch = cost(usage.batch_prompt_tokens, usage.batch_completion_tokens, price) or 0.0
    return live + BATCH_DISCOUNT * batch


#: What an image costs in prompt tokens, roughly (OpenAI's high-detail price of a 1024-pixel image): estimates only.
IMAGE_TOKENS = 765


def estimate_tokens(messages: list[dict[str, Any]]) -> int:
    """About four characters a token for English text, an image at ``IMAGE_TOKENS``, plus a few tokens of
    framing per message."""
    total = 0
    for message in messages:
        content = message["content"]
        parts = content if isinstance(content, list) else [{"type": "text", "text": content}]
        total += 4 + sum(len(p.get("text", "")) // 4 if p.get("type") == "text" else IMAGE_TOKENS for p in parts)
    return total
