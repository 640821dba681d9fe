"""The terminal report of a scored run: one table per unit, a line per further breakdown and per group score."""

from __future__ import annotations

from vipbench.scoring.record import RunScores, Stat, UnitScores, fmt


def _who(unit: UnitScores) -> str:
    by = unit.scored_by
    if not by.is_judge:
        args = ", ".join(f"{k}={v}" for k, v in by.args.items())
        return f"{by.grader.removeprefix('metric:')} v{by.grader_version}" + (f" ({args})" if args else "")
    reported = ", ".join(by.reported_models) or "–"
    return f"judge {by.judge_model} (API reported: {reported}), {by.runs} run(s), mean ± std"


def unit_table(model: str, unit: UnitScores, width: int = 80):
    """The scores side by side when they fit in ``width`` columns, else one row per score: LLaVA-Bench's six
    columns (relative, reference, model and three categories) are wider than 80, and a table rich has to squeeze
    crops its last columns without a word."""
    from rich.console import Console

    columns: list[tuple[str, Stat]] = [(unit.total.label or unit.headline, unit.total)]
    columns += [(stat.label or name, stat) for name, stat in unit.secondary.items()]
    for stats in list(unit.breakdowns.values())[:1]:
        columns += [(stat.label or value, stat) for value, stat in stats.items()]
    table = _wide_table(_title(model, unit), columns, unit, width)
    if Console(width=10_000).measure(table).minimum <= width:  # measured unclamped: the width it needs
        return table
    return _tall_table(_title(model, unit), columns, unit, width)


def _title(model: str, unit: UnitScores):
    """The title and the width it needs: a table of one or two columns must not wrap it."""
    name = f"{model} · {unit.unit}"
    partial = f"partial {unit.n}/{unit.planned}" if unit.partial else ""
    return (f"{name} · [yellow]{partial}[/]" if partial else name), len(name) + len(partial) + 7


def _wide_table(title: tuple[str, int], columns: list[tuple[str, Stat]], unit: UnitScores, width: int):
    """A column per score; mean, ± std and n on rows of their own, so that each column is narrow."""
    from rich.table import Table

    table = Table(title=title[0], title_justify="left", min_width=min(title[1], width, 80))
    for name, _ in columns:
        table.add_column(name, justify="right", no_wrap=True, min_width=len(name))
    table.add_row(*("–" if stat.mean is None else f"{stat.mean:.1f}" for _, stat in columns))
    if unit.scored_by.runs > 1:
        table.add_row(*("" if stat.std is None else f"± {stat.std:.1f}" for _, stat in columns))
    table.add_row(*(f"n={stat.n}" for _, stat in columns), style="dim")
    return table


def _tall_table(title: tuple[str, int], columns: list[tuple[str, Stat]], unit: UnitScores, width: int):
    """A row per score (the headline, the secondary scores, then the first breakdown's values, each block in a
    section of its own): as many scores as there are, in any width."""
    from rich.table import Table

    table = Table(title=title[0], title_justify="left", min_width=min(title[1], width, 80))
    table.add_column("score", overflow="fold")
    table.add_column("mean", justify="right", no_wrap=True)
    runs = unit.scored_by.runs > 1
    if runs:
        table.add_column("± std", justify="right", no_wrap=True)
    table.add_column("n", justify="right", no_wrap=True, style="dim")
    sections = {0, len(unit.secondary)}  # the last row of the headline, of the secondary scores
    for i, (name, stat) in enumerate(columns):
        std = ["" if stat.std is None else f"± {stat.std:.1f}"] if runs else []
        mean = "–" if stat.mean is None else f"{stat.mean:.1f}"
        table.add_row(name, mean, *std, str(stat.n), end_section=i in sections)
    return table


def unit_caption(unit: UnitScores) -> str:
    """Who graded, how many grades failed and how they were counted, and how the scoring departs from the
    official protocol (nothing said: it is the official one)."""
    graded = unit.expected_grades - unit.failed
    line = f"{_who(unit)} · {graded}/{unit.expected_grades} graded · " + _failures(unit)
    deviations = [*unit.deviations, *unit.scored_by.deviations]
    if deviations:
        line += " · [yellow]deviates from the official protocol[/]: " + "; ".join(deviations)
    return line


def _failures(unit: UnitScores) -> str:
    """ "0 failed", or "N grades failed, counted as 0 (official)" / "..., left out (vipbench)"."""
    if not unit.failed:
        return "0 failed"
    by = unit.scored_by
    if not by.is_judge:
        return f"[red]{unit.failed} failed[/], left out"
    rule = by.rules or "vipbench" if by.failed_grade == "rule" else f"--failed-grade {by.failed_grade}"
    counted = (
        f"{unit.zeroed} counted as {_as(by.failed_as)}" if by.failed_as is not None and unit.zeroed else "left out"
    )
    rest = unit.failed - unit.zeroed
    other = f"; {rest} not answered, left out" if unit.zeroed and rest else ""
    return f"[red]{unit.failed} grades failed[/], {counted} ({rule}){other}"


def _as(values) -> str:
    if set(values) == {"score"}:
        return f"{values['score']:g}"
    return "[" + ", ".join(f"{v:g}" for k, v in values.items() if k != "score") + "]"


def _indented(markup: str, style: str = ""):
    """A line under a table, indented by two; where it wraps, it wraps at that indent, not at column 0."""
    from rich.padding import Padding
    from rich.text import Text

    return Padding(Text.from_markup(markup, style=style), (0, 0, 0, 2), expand=False)


def print_scores(outcome, console) -> None:
    """The report ``vipbench judge`` prints: every table, then what the judge calls cost."""
    print_run_scores(outcome.scores, console)
    _print_judge_calls(outcome, console)


def print_run_scores(scores: RunScores, console) -> None:
    if scores.partial:
        console.print(
            f"[yellow]partial[/]: run {scores.run_id} is {scores.status} with {scores.predictions}/{scores.planned} "
            "predictions; these numbers are not comparable with a complete run's",
            soft_wrap=True,
        )
    for unit in scores.units.values():
        console.print(unit_table(scores.model, unit, console.width))
        console.print(_indented(unit_caption(unit), style="dim"))
        for key, stats in list(unit.breakdowns.items())[1:]:  # further breakdowns (e.g. shape) as compact lines
            console.print(_indented(f"by {key}: " + ", ".join(f"{s.label or v} {fmt(s)}" for v, s in stats.items())))
        if unit.combinations:
            console.print(
                _indented(
                    "capability combinations: "
                    + ", ".join(f"{name} {fmt(s)} (n={s.n})" for name, s in unit.combinations.items())
                )
            )
    for name, group in scores.groups.items():
        console.print(
            f"{name} ({', '.join(group.tasks)}, {group.scorer}): {group.total.label or group.headline} "
            f"{fmt(group.total)} (n={group.total.n})",
            soft_wrap=True,
        )


def _print_judge_calls(outcome, console) -> None:
    s = outcome.stats
    if not any(u.scored_by.is_judge for u in outcome.scores.units.values()):
        return
    if not (s.requests or s.cache_hits):
        console.print("judge calls: none (every grade was already in judgements.jsonl)")
        return
    batches = outcome.batch.ended if outcome.batch else []
    tokens = s.usage.total + sum(state.usage.total for state in batches)
    from_batch = sum(state.collected for state in batches)
    spent = (
        "cost unknown (no price for this model; see --prices)"
        if outcome.cost_usd is None
        else f"${outcome.cost_usd:.4f}"
    )
    console.print(
        f"judge calls: {s.requests} HTTP requests ({s.retries} retries), {s.cache_hits} cache hits"
        + (f" ({from_batch} of them from the Batch API, at half price)" if from_batch else "")
        + f", {tokens} tokens, {spent}",
        soft_wrap=True,
    )
