"""The terminal report of a scored run: one table per unit, a line per further breakdown and per group score."""

from __future__ import annotations

from vipbench.scoring.scores import RunScores, Stat, UnitScores, fmt


def _who(unit: UnitScores) -> str:
    by = unit.scored_by
    if not by.is_judge:
        args = ", ".join(f"{k}={v}" for k, v in by.args.items())
        return f"{by.grader.removeprefix('metric:')} v{by.grader_version}" + (f" ({args})" if args else "")
    reported = ", ".join(by.reported_models) or "–"
    return f"judge {by.judge_model} (API reported: {reported}), {by.runs} run(s), mean ± std"


def unit_table(model: str, unit: UnitScores):
    from rich.table import Table

    name = f"{model} · {unit.unit}"
    partial = f"partial {unit.n}/{unit.planned}" if unit.partial else ""
    width = len(name) + len(partial) + 7
    # At least as wide as its title (within 80 columns): a table of one or two columns must not wrap it.
    title = f"{name} · [yellow]{partial}[/]" if partial else name
    table = Table(title=title, title_justify="left", min_width=min(width, 80))
    columns: list[tuple[str, Stat]] = [(unit.total.label or unit.headline, unit.total)]
    columns += [(stat.label or name, stat) for name, stat in unit.secondary.items()]
    for stats in list(unit.breakdowns.values())[:1]:
        columns += [(stat.label or value, stat) for value, stat in stats.items()]
    for name, _ in columns:
        table.add_column(name, justify="right", no_wrap=True, min_width=len(name))
    # Mean, ± std and n on rows of their own: narrow columns that fit an 80-column terminal.
    table.add_row(*("–" if stat.mean is None else f"{stat.mean:.1f}" for _, stat in columns))
    if unit.scored_by.runs > 1:
        table.add_row(*("" if stat.std is None else f"± {stat.std:.1f}" for _, stat in columns))
    table.add_row(*(f"n={stat.n}" for _, stat in columns), style="dim")
    return table


def unit_caption(unit: UnitScores) -> str:
    failed = f"[red]{unit.failed} failed[/]" if unit.failed else "0 failed"
    zeroed = f", {unit.zeroed} counted as 0" if unit.zeroed else ""
    graded = unit.expected_grades - unit.failed
    return f"  {_who(unit)} · {graded}/{unit.expected_grades} graded · {failed}{zeroed}"


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
        console.print(unit_table(scores.model, unit))
        console.print(unit_caption(unit), style="dim", soft_wrap=True)
        for key, stats in list(unit.breakdowns.items())[1:]:  # further breakdowns (e.g. shape) as compact lines
            line = ", ".join(f"{s.label or v} {fmt(s)}" for v, s in stats.items())
            console.print(f"  by {key}: {line}", soft_wrap=True)
        if unit.combinations:
            console.print(
                "  capability combinations: "
                + ", ".join(f"{name} {fmt(s)} (n={s.n})" for name, s in unit.combinations.items()),
                soft_wrap=True,
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
