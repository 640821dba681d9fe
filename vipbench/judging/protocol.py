"""One grade: render the prompt, ask, parse; re-ask an unparseable reply; never invent a score.

Following the official ViP-Bench grader: ask at the judge's temperature (0), then re-ask up to ``attempts``
times with the re-ask suffix, the first re-ask at the same temperature and each next one ``temperature_step``
hotter (0, 0.5, 1.0, 1.5, 2.0 — 2.0 is the API's ceiling). Unlike the official script, a grade that is
still unparseable is recorded as failed rather than scored 0.
"""

from __future__ import annotations

from dataclasses import dataclass

from vipbench.errors import VipbenchError
from vipbench.judging.client import CostLimitReached, JudgeClient, describe_error
from vipbench.judging.config import JudgeConfig
from vipbench.judging.parsers import get_parser
from vipbench.judging.template import JudgeTemplate, spaced_logic
from vipbench.records import Judgement, PredictionRecord, Usage
from vipbench.store import now


@dataclass(frozen=True)
class Judge:
    """A judge config, its template and the model it is asked to use: everything that decides a grade."""

    config: JudgeConfig
    template: JudgeTemplate
    model: str
    base_url: str | None

    @property
    def scorer(self) -> str:
        return f"judge:{self.config.judge}"

    def messages(self, record: PredictionRecord) -> list[dict[str, str]]:
        context = {
            "question": record.prompt,
            "ground_truth": spaced_logic(record.references[0]) if record.references else "",
            "references": record.references,
            "prediction": record.prediction,
            "metadata": record.metadata,
        }
        return self.template.render(context, system=self.config.system)

    def reask(self, messages: list[dict[str, str]]) -> list[dict[str, str]]:
        last = messages[-1]
        return [*messages[:-1], {**last, "content": last["content"] + self.config.reask.suffix}]

    def temperatures(self) -> list[float]:
        """The temperature of the first ask and of each re-ask."""
        c = self.config
        return [c.temperature] + [
            min(2.0, c.temperature + c.reask.temperature_step * k) for k in range(c.reask.attempts)
        ]


async def grade(judge: Judge, client: JudgeClient, record: PredictionRecord, run: int, grade_key: str) -> Judgement:
    parse = get_parser(judge.config.parser)
    base = judge.messages(record)
    replies: list[str] = []
    usage = Usage()
    reported: str | None = None
    all_cached = True
    error: str | None = None
    for attempt, temperature in enumerate(judge.temperatures()):
        messages = base if attempt == 0 else judge.reask(base)
        try:
            reply = await client.complete(messages, temperature, judge.config.max_tokens, run)
        except VipbenchError:
            raise  # no key, or an endpoint that refuses everything: stop the whole judge
        except CostLimitReached as exc:
            error = str(exc)
            break
        except Exception as exc:  # retries exhausted, or a request the endpoint rejects (e.g. too long)
            error = describe_error(exc)
            break
        replies.append(reply.content)
        usage = usage + reply.usage
        reported = reply.model or reported
        all_cached = all_cached and reply.cached
        value = parse(reply.content, judge.config.scale)
        if value is not None:
            return _judgement(
                judge,
                record,
                run,
                grade_key,
                "ok",
                value / judge.config.scale * 10,
                None,
                replies,
                reported,
                all_cached,
                usage,
            )
    else:
        error = f"no parseable score in {len(replies)} replies"
    return _judgement(
        judge, record, run, grade_key, "failed", None, error, replies, reported, all_cached and bool(replies), usage
    )


def _judgement(
    judge: Judge,
    record: PredictionRecord,
    run: int,
    grade_key: str,
    status: str,
    score: float | None,
    error: str | None,
    replies: list[str],
    reported: str | None,
    cached: bool,
    usage: Usage,
) -> Judgement:
    return Judgement(
        grade_key=grade_key,
        task=record.task,
        sample_id=record.sample_id,
        prompt_style=record.prompt_style,
        run=run,
        scorer=judge.scorer,
        judge_model=judge.model,
        reported_model=reported,
        template_hash=judge.template.sha256,
        status=status,
        score=None if score is None else round(score, 4),
        error=error,
        replies=replies,
        attempts=len(replies),
        cached=cached,
        usage=usage,
        created=now(),
    )
