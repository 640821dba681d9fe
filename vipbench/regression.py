"""``vipbench check``: did a run's scores drop against a baseline, beyond a tolerance and beyond chance?

Both sides are scores.json files (a run folder's, or one committed to a repository): each unit there carries every
sample's grades (``SampleGrades``), so the unit's own scorer can be run again on resampled samples. The paired
bootstrap draws the samples both sides graded (the same ids), with replacement, and scores both on the same draw,
so the interval of the difference knows how many samples there are and how much they vary: a 1-point drop on 30
items is noise where the same drop on 3,000 is not. A number fails the check only when it dropped by more than the
tolerance and its whole 1 − α interval lies below zero.

The gate fails closed: a check that compared too little (no unit in common, or fewer than ``min_coverage`` of the
baseline's samples) is not a pass, and a number on fewer than ``min_samples`` samples gets no verdict at all (a
100-point drop on one sample is an anecdote, and its bootstrap interval is a single point).

Corpus caption metrics (CIDEr, ...) need the texts and a Java tokenizer per draw: they are compared against the
tolerance only, and the table says so. With ``agreement``, the two sides are the same predictions graded by two
judges, and the report is how closely the judges agree, per sample and per capability.
"""

from __future__ import annotations

import json
import random
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from vipbench.errors import VipbenchError
from vipbench.scoring.aggregate import metadata_values
from vipbench.scoring.base import GradedItem, build_scorer
from vipbench.scoring.record import RunScores, SampleGrades, UnitScores
from vipbench.store import RunStore

#: Scorers that read the predictions' texts, which a scores.json does not keep.
TEXT_SCORERS = {"caption"}


@dataclass(frozen=True)
class _Sample:
    """What a scorer reads of a prediction, rebuilt from its ``SampleGrades``."""

    sample_id: str
    metadata: Mapping[str, Any]


@dataclass
class Difference:
    unit: str
    number: str
    """The unit's headline ("All", "F1", ...) or a breakdown value ("Rec", "OCR", ...)."""
    baseline: float | None
    current: float | None
    n: int
    """Samples both sides graded."""
    low: float | None = None
    high: float | None = None
    """The 1 − α bootstrap interval of current − baseline; None when the number cannot be resampled."""
    verdict: str = "ok"
    """``ok``, ``better``, ``within tolerance``, ``not significant``, ``regression``, or why it was not tested."""

    @property
    def delta(self) -> float | None:
        if self.baseline is None or self.current is None:
            return None
        return round(self.current - self.baseline, 2)


@dataclass
class Agreement:
    unit: str
    number: str
    n: int
    mean_abs_difference: float | None
    """On the unit's 0–100 scale, per sample (each sample's mean over judge runs)."""
    correlation: float | None
    """Pearson's r between the two judges' per-sample scores."""


@dataclass
class CheckReport:
    baseline: str
    current: str
    tolerance: float
    alpha: float
    differences: list[Difference] = field(default_factory=list)
    agreements: list[Agreement] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)
    not_compared: list[str] = field(default_factory=list)
    min_samples: int = 0
    min_coverage: float = 0.0
    baseline_samples: int = 0
    """Samples the baseline scored, over every unit it has."""
    compared_samples: int = 0
    """Of those, the samples this check compared (graded on both sides, in units both sides have)."""

    @property
    def regressions(self) -> list[Difference]:
        return [d for d in self.differences if d.verdict.startswith("regression")]

    @property
    def coverage(self) -> float:
        return self.compared_samples / self.baseline_samples if self.baseline_samples else 0.0

    @property
    def too_little(self) -> str | None:
        """Why this check cannot pass however the numbers look: it compared nothing, or too little of the baseline."""
        if not any(d.n >= self.min_samples for d in self.differences):
            return "nothing was compared: no task in common with at least " + _samples(self.min_samples)
        if self.coverage < self.min_coverage:
            return (
                f"only {self.compared_samples} of the baseline's {self.baseline_samples} samples were compared "
                f"({self.coverage:.0%}, below --min-coverage {self.min_coverage:.0%})"
            )
        return None


# --------------------------------------------------------------------------------------------------- loading


def read_scores_file(ref: str, results_dir: Path) -> tuple[str, RunScores]:
    """A scores.json file, a run folder, or a run id in ``results_dir``: (how to name it, its scores)."""
    path = Path(ref).expanduser()
    if path.is_file():
        file = path
    elif (path / "scores.json").is_file():
        file = path / "scores.json"
    else:
        store = RunStore.open(results_dir, ref)
        file = store.scores_path
        if not file.is_file():
            raise VipbenchError(f"run {store.run_id} has no scores yet: score it with vipbench judge {store.run_id}")
    try:
        return str(ref), RunScores.model_validate_json(file.read_text(encoding="utf-8"))
    except (ValidationError, json.JSONDecodeError, UnicodeDecodeError):
        raise VipbenchError(f"{file} is not a vipbench scores.json") from None


def mismatches(baseline: RunScores, current: RunScores, agreement: bool = False) -> list[str]:
    """What differs between the two sides' shared units in data, prompts or grading, one line each."""
    lines = []
    for unit in sorted(set(baseline.units) & set(current.units)):
        b, c = baseline.units[unit], current.units[unit]
        fields = [
            ("dataset hash", b.dataset_hash, c.dataset_hash),
            ("prompt hash", b.prompt_hash, c.prompt_hash),
            ("protocol", b.protocol, c.protocol),
            ("deviations", _deviations(b), _deviations(c)),
            (
                "scorer",
                f"{b.scored_by.scorer} v{b.scored_by.scorer_version}",
                f"{c.scored_by.scorer} v{c.scored_by.scorer_version}",
            ),
            (
                "grader",
                f"{b.scored_by.grader} v{b.scored_by.grader_version}",
                f"{c.scored_by.grader} v{c.scored_by.grader_version}",
            ),
        ]
        if not agreement:
            fields += [
                ("judge model", b.scored_by.judge_model, c.scored_by.judge_model),
                ("judge template", b.scored_by.template_hash, c.scored_by.template_hash),
            ]
        for name, old, new in fields:
            if old != new:
                lines.append(f"{unit}: {name} differs (baseline {_short(old)}, this run {_short(new)})")
    return lines


def _deviations(unit: UnitScores) -> str:
    """Every way a unit departs from the official protocol: in generation (the manifest's) and in scoring (a
    metric's reading, the judge's rules, the failure rule)."""
    return "; ".join([*unit.deviations, *unit.scored_by.deviations]) or "none"


def _short(value: Any) -> str:
    text = str(value)
    return text[:12] if len(text) == 64 else text


# ------------------------------------------------------------------------------------------------ comparing


def check(
    baseline: tuple[str, RunScores],
    current: tuple[str, RunScores],
    tolerance: float = 1.0,
    alpha: float = 0.05,
    resamples: int = 1000,
    seed: int = 0,
    allow_mismatch: bool = False,
    min_samples: int = 10,
    min_coverage: float = 0.9,
) -> CheckReport:
    (base_name, base), (cur_name, cur) = baseline, current
    report = CheckReport(
        base_name,
        cur_name,
        tolerance,
        alpha,
        mismatches=mismatches(base, cur),
        min_samples=min_samples,
        min_coverage=min_coverage,
    )
    if report.mismatches and not allow_mismatch:
        raise VipbenchError(
            "the runs were not made or graded the same way, so their scores are not comparable:\n  "
            + "\n  ".join(report.mismatches)
            + "\npass --allow-mismatch to compare them anyway"
        )
    report.not_compared = sorted(set(base.units) ^ set(cur.units)) + sorted(set(base.groups) ^ set(cur.groups))
    rng = random.Random(seed)
    report.baseline_samples = sum(_size(u) for u in base.units.values())
    for unit in [u for u in base.units if u in cur.units]:
        b, c = base.units[unit], cur.units[unit]
        report.compared_samples += _compared(b, c)
        report.differences += _unit_differences(b, c, tolerance, alpha, resamples, rng)
    for name in [g for g in base.groups if g in cur.groups]:
        b, c = base.groups[name].total, cur.groups[name].total
        diff = Difference(name, b.label or base.groups[name].headline, b.mean, c.mean, min(b.n, c.n))
        diff.verdict = _tolerance_only(diff, tolerance, "group score: tolerance only")
        report.differences.append(diff)
    for diff in report.differences:
        if diff.n < min_samples and diff.delta is not None:
            diff.low = diff.high = None
            diff.verdict = f"too few samples (n={diff.n}, a verdict needs {min_samples})"
    return report


def _size(unit: UnitScores) -> int:
    return len(unit.samples) if unit.samples else unit.total.n


def _compared(b: UnitScores, c: UnitScores) -> int:
    """The baseline's samples this unit compares: those graded on both sides, or, without per-sample grades (an
    older scores.json), as many as the smaller side scored."""
    if b.samples and c.samples:
        return len(_shared(b, c))
    return min(b.total.n, c.total.n)


def _samples(n: int) -> str:
    return "1 sample" if n == 1 else f"{n} samples"


def _unit_differences(
    b: UnitScores, c: UnitScores, tolerance: float, alpha: float, resamples: int, rng: random.Random
) -> list[Difference]:
    numbers = _numbers(b, c)
    shared = _shared(b, c)
    untestable = _why_untestable(b, c, shared)
    draws: dict[str, list[float]] = {name: [] for name, _ in numbers}
    if not untestable:
        scorer = build_scorer(c.scored_by.scorer, c.scored_by.scorer_args)
        runs = min(b.scored_by.runs, c.scored_by.runs)
        pairs = [(_sample(b_grades), b_grades.values, c_grades.values) for b_grades, c_grades in shared]
        covers = {name: [select(sample) for sample, _, _ in pairs] for name, select in numbers}  # once, not per draw
        for _ in range(resamples):
            drawn = [rng.randrange(len(pairs)) for _ in pairs]
            for name, _ in numbers:
                inside = covers[name]
                members = [pairs[i] for i in drawn if inside[i]]
                old = _score(scorer, [(s, v) for s, v, _ in members], runs)
                new = _score(scorer, [(s, v) for s, _, v in members], runs)
                if old is not None and new is not None:
                    draws[name].append(new - old)
    differences = []
    for name, _ in numbers:
        old, new = _reported(b, name), _reported(c, name)
        diff = Difference(b.unit, name, old, new, len(shared))
        if untestable:
            diff.verdict = _tolerance_only(diff, tolerance, untestable)
        else:
            diff.low, diff.high = _interval(draws[name], alpha)
            diff.verdict = _verdict(diff, tolerance)
        differences.append(diff)
    return differences


def _numbers(b: UnitScores, c: UnitScores) -> list[tuple[str, Callable[[_Sample], bool]]]:
    """The unit's headline, then every breakdown value both sides report, each with which samples it covers."""
    numbers: list[tuple[str, Callable[[_Sample], bool]]] = [(b.total.label or b.headline, lambda s: True)]
    for key, values in b.breakdowns.items():
        for value, stat in values.items():
            if value in c.breakdowns.get(key, {}):
                numbers.append((stat.label or value, lambda s, k=key, v=value: v in metadata_values(s.metadata, k)))
    return numbers


def _reported(unit: UnitScores, name: str) -> float | None:
    if name == (unit.total.label or unit.headline):
        return unit.total.mean
    for values in unit.breakdowns.values():
        for value, stat in values.items():
            if (stat.label or value) == name:
                return stat.mean
    return None


def _shared(b: UnitScores, c: UnitScores) -> list[tuple[SampleGrades, SampleGrades]]:
    current = {s.id: s for s in c.samples}
    return [(s, current[s.id]) for s in b.samples if s.id in current]


def _why_untestable(b: UnitScores, c: UnitScores, shared: list) -> str | None:
    if c.scored_by.scorer in TEXT_SCORERS:
        return "corpus metric: tolerance only"
    if not b.samples or not c.samples:
        return "no per-sample grades (scored by an older vipbench; judge it again): tolerance only"
    if len(shared) < 2:
        return "fewer than 2 samples in common: tolerance only"
    return None


def _sample(grades: SampleGrades) -> _Sample:
    return _Sample(grades.id, grades.meta)


def _score(scorer: Any, rows: Sequence[tuple[_Sample, list]], runs: int) -> float | None:
    """The scorer's headline on ``rows``, averaged over the judge runs, as a unit's reported number is."""
    per_run = []
    for run in range(runs):
        items = [GradedItem(sample, values[run]) for sample, values in rows if values[run] is not None]  # type: ignore[arg-type]
        value = scorer.score(items).get(scorer.headline) if items else None
        if value is not None:
            per_run.append(value)
    return statistics.fmean(per_run) if per_run else None


def _interval(draws: list[float], alpha: float) -> tuple[float | None, float | None]:
    if not draws:
        return None, None
    ordered = sorted(draws)
    at = lambda q: ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]  # noqa: E731
    return round(at(alpha / 2), 2), round(at(1 - alpha / 2), 2)


def _verdict(diff: Difference, tolerance: float) -> str:
    delta = diff.delta
    if delta is None or diff.high is None:
        return "not scored on both sides"
    if delta >= 0:
        return "better" if diff.low is not None and diff.low > 0 else "ok"
    if -delta <= tolerance:
        return "within tolerance"
    return "regression" if diff.high < 0 else "not significant"


def _tolerance_only(diff: Difference, tolerance: float, why: str) -> str:
    delta = diff.delta
    if delta is None:
        return "not scored on both sides"
    return f"regression ({why})" if -delta > tolerance else f"ok ({why})"


# ----------------------------------------------------------------------------------------------- agreement


def agreement(baseline: tuple[str, RunScores], current: tuple[str, RunScores]) -> CheckReport:
    """How two judges agree on the same predictions: per judge-graded unit, overall and per breakdown value."""
    (base_name, base), (cur_name, cur) = baseline, current
    report = CheckReport(base_name, cur_name, 0.0, 0.0, mismatches=mismatches(base, cur, agreement=True))
    if report.mismatches:
        raise VipbenchError(
            "the two sides are not the same predictions and grading:\n  " + "\n  ".join(report.mismatches)
        )
    for unit in [u for u in base.units if u in cur.units]:
        b, c = base.units[unit], cur.units[unit]
        if b.scored_by.is_judge and c.scored_by.is_judge:
            report.agreements += _unit_agreements(b, c)
    report.not_compared = sorted(set(base.units) ^ set(cur.units))
    return report


def _unit_agreements(b: UnitScores, c: UnitScores) -> list[Agreement]:
    shared = _shared(b, c)
    changed = sum(1 for x, y in shared if x.prediction != y.prediction)
    if changed:
        raise VipbenchError(
            f"{b.unit}: {changed} of {len(shared)} predictions differ between the two sides; judge agreement needs "
            "the same predictions graded twice (vipbench judge RUN --judge OTHER on a copy of the run)"
        )
    full = c.scored_by.scorer_args.get("full_marks", 10.0)
    agreements = []
    for name, select in _numbers(b, c):
        means = [(_mean_score(x, full), _mean_score(y, full)) for x, y in shared if select(_sample(x))]
        scored = [(old, new) for old, new in means if old is not None and new is not None]
        agreements.append(Agreement(b.unit, name, len(scored), *_agree(scored)))
    return agreements


def _mean_score(grades: SampleGrades, full_marks: float) -> float | None:
    scores = [v["score"] for v in grades.values if v is not None and v.get("score") is not None]
    return 100 * statistics.fmean(scores) / full_marks if scores else None


def _agree(pairs: list[tuple[float, float]]) -> tuple[float | None, float | None]:
    if not pairs:
        return None, None
    mad = round(statistics.fmean(abs(a - b) for a, b in pairs), 2)
    xs, ys = [a for a, _ in pairs], [b for _, b in pairs]
    if len(pairs) < 2 or statistics.pstdev(xs) == 0 or statistics.pstdev(ys) == 0:
        return mad, None
    return mad, round(statistics.correlation(xs, ys), 3)
