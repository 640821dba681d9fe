"""One grade: render the prompt, ask, parse; re-ask an unparseable reply; count a grade that stays unparseable
by the judge's failure rule, never invent one.

The official ViP-Bench grader (ViP-LLaVA@77079b1 ``scripts/eval/vip-bench_evaluator.py``) asks at temperature 0,
then re-asks up to 5 times with its re-ask line, the first re-ask at the same temperature and each next one 0.5
hotter (0, 0, 0.5, 1.0, 1.5, 2.0: 6 calls), never reads the 6th reply, and scores such a grade 0.0
(``JudgeSpec.failed``); LLaVA-Bench's review asks once and records an unparseable review as [-1, -1]. A failed grade
is recorded as failed with its reason; the scores count it by the rule the scoring uses (``assemble.grade_values``).
A reply the official reading keeps but that holds no finite number ("nan") is not re-asked, as upstream, and fails
(``not-finite``): the official rule then counts it as 0, where upstream's means would turn NaN.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from vipbench.chat.client import ChatClient, CostLimitReached, describe_error
from vipbench.errors import VipbenchError
from vipbench.records import Judgement, JudgeSpec, PredictionRecord, Usage
from vipbench.scoring.base import PARSERS, Versioned, load_versioned
from vipbench.scoring.judge.template import CompiledTemplate, spaced_logic
from vipbench.store import now


@dataclass(frozen=True)
class Judge:
    """A judge spec and the endpoint it is asked at: everything that decides a grade."""

    spec: JudgeSpec
    base_url: str | None

    @property
    def grader(self) -> str:
        return f"judge:{self.spec.name}"

    @cached_property
    def template(self) -> CompiledTemplate:
        return CompiledTemplate(self.spec.template)

    @cached_property
    def parser(self) -> Versioned:
        return load_versioned(PARSERS, self.spec.parser)

    def key(self) -> dict[str, Any]:
        """What decides this judge's grades, for the grade key (the template by hash, the parser by version)."""
        spec = self.spec.model_dump(exclude={"runs", "template", "parser_version"})
        t = self.spec.template
        return {
            **spec,
            "grader": self.grader,
            "base_url": self.base_url,
            "template": [t.sha256, t.official, t.reask_suffix],
            "parser_version": self.parser.version,
        }

    def messages(self, record: PredictionRecord, reask: bool = False) -> list[dict[str, str]]:
        """The prompt for one grade. A re-ask appends the re-ask line; with the official grader script as the
        template it asks the ``<obj>`` question and the script's own line, as that script does (line 203)."""
        official = self.spec.template.official
        question = record.template if reask and official and record.template else record.question
        reference = record.references[0] if record.references else ""
        shown = (record.prediction, reference) if self.spec.swapped else (reference, record.prediction)
        context = {
            "question": question,
            "ground_truth": spaced_logic(reference),
            "references": record.references,
            "prediction": record.prediction,
            "assistant_1": shown[0],
            "assistant_2": shown[1],
            "metadata": record.metadata,
        }
        messages = self.template.render(context, system=self.spec.system)
        if not reask:
            return messages
        suffix = self.spec.template.reask_suffix if official and self.spec.template.reask_suffix else None
        last = messages[-1]
        return [*messages[:-1], {**last, "content": last["content"] + (suffix or self.spec.reask.suffix)}]

    def values(self, parsed: dict[str, Any]) -> dict[str, Any]:
        """A parsed reply as grade values: a pairwise review's first and second scores named for the answers they
        grade (in the default order), each on vipbench's 0–10 scale; the answer under review's is also ``score``."""
        names = self.spec.assistants
        if names is None:
            return parsed
        first, second = (
            (parsed["second"], parsed["first"]) if self.spec.swapped else (parsed["first"], parsed["second"])
        )
        scale = 10 / self.spec.scale
        return {names[0]: first * scale, names[1]: second * scale, "score": second * scale}

    def temperatures(self) -> list[float]:
        """The temperature of the first ask and of each re-ask."""
        s = self.spec
        return [s.temperature] + [
            min(2.0, s.temperature + s.reask.temperature_step * k) for k in range(s.reask.attempts)
        ]


@dataclass
class _Attempts:
    """What the asks of one grade gathered."""

    replies: list[str]
    usage: Usage
    reported: str | None = None
    cached: bool = True


async def grade(judge: Judge, client: ChatClient, record: PredictionRecord, run: int, grade_key: str) -> Judgement:
    asked = _Attempts([], Usage())
    failure, error = "unparseable", None
    temperatures = judge.temperatures()
    for attempt, temperature in enumerate(temperatures):
        messages = judge.messages(record, reask=attempt > 0)
        try:
            reply = await client.complete(
                judge.spec.model, messages, temperature, judge.spec.max_tokens, run, attempt=attempt
            )
        except VipbenchError:
            raise  # no key, or an endpoint that refuses everything: stop the whole judge
        except CostLimitReached as exc:
            failure, error = "cost-limit", str(exc)
            break
        except Exception as exc:  # retries exhausted, or a request the endpoint rejects (e.g. too long)
            failure, error = "request", describe_error(exc)
            break
        asked.replies.append(reply.content)
        asked.usage = asked.usage + reply.usage
        asked.reported = reply.model or asked.reported
        asked.cached = asked.cached and reply.cached
        if attempt == len(temperatures) - 1 and not judge.spec.reask.parse_last:
            error = f"no parseable score in {attempt} replies (the official grader never reads the last one)"
            break
        values = judge.parser(reply.content, judge.spec.scale)
        if values is None:
            continue
        if not all(math.isfinite(v) for v in values.values() if isinstance(v, float)):
            failure, error = "not-finite", f"the reply {reply.content!r} reads as a number that is not finite"
            break
        return _judgement(judge, record, run, grade_key, asked, values=judge.values(values))
    else:
        error = f"no parseable score in {len(asked.replies)} replies"
    return _judgement(judge, record, run, grade_key, asked, failure=failure, error=error)


def _judgement(
    judge: Judge,
    record: PredictionRecord,
    run: int,
    grade_key: str,
    asked: _Attempts,
    values: dict[str, Any] | None = None,
    failure: str | None = None,
    error: str | None = None,
) -> Judgement:
    return Judgement(
        grade_key=grade_key,
        task=record.task,
        sample_id=record.sample_id,
        prompt_style=record.prompt_style,
        run=run,
        grader=judge.grader,
        version=judge.spec.version,
        judge_model=judge.spec.model,
        reported_model=asked.reported,
        base_url=judge.base_url,
        template_hash=judge.spec.template.sha256,
        status="ok" if values is not None else "failed",
        values={k: round(v, 4) if isinstance(v, float) else v for k, v in (values or {}).items()},
        failure=failure,
        error=error,
        replies=asked.replies,
        attempts=len(asked.replies),
        cached=asked.cached and bool(asked.replies),
        usage=asked.usage,
        created=now(),
    )
