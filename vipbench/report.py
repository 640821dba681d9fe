"""The terminal report of a graded run."""

from __future__ import annotations

from vipbench.scoring import fmt


def print_scores(outcome, console) -> None:
    from rich.table import Table

    for unit in outcome.scores.units.values():
        capability_tables = list(unit.breakdowns.items())
        table = Table(title=f"{outcome.scores.model} · {unit.unit}", title_justify="left")
        columns = [("All", unit.total)]
        for _, stats in capability_tables[:1]:
            columns += [(stat.label or value, stat) for value, stat in stats.items()]
        for name, _ in columns:
            table.add_column(name, justify="right", no_wrap=True)
        table.add_row(*(fmt(stat) for _, stat in columns))
        table.add_row(*(f"n={stat.n}" for _, stat in columns), style="dim")
        scorer = unit.scorer
        if scorer["kind"] == "judge":
            reported = ", ".join(scorer.get("reported_models") or []) or "–"
            who = f"judge {scorer['judge_model']} (API reported: {reported}), {scorer['runs']} run(s), mean ± std"
        else:
            who = f"metric {scorer['name']}"
        failed = f"[red]{unit.failed} failed[/]" if unit.failed else "0 failed"
        table.caption = f"{who} · {unit.expected_grades - unit.failed}/{unit.expected_grades} graded · {failed}"
        console.print(table)
        for key, stats in capability_tables[1:]:  # further breakdowns (e.g. shape) as compact lines
            console.print(f"  by {key}: " + ", ".join(f"{s.label or v} {fmt(s)}" for v, s in stats.items()))
        if unit.combinations:
            console.print(
                "  capability combinations: "
                + ", ".join(f"{name} {fmt(s)} (n={s.n})" for name, s in unit.combinations.items())
            )
    s = outcome.stats
    if not any(u.scorer["kind"] == "judge" for u in outcome.scores.units.values()):
        return
    if not (s.requests or s.cache_hits):
        console.print("judge calls: none (every grade was already in judgements.jsonl)")
        return
    tokens = s.usage.prompt_tokens + s.usage.completion_tokens
    spent = (
        "cost unknown (no price for this model; see --prices)"
        if outcome.cost_usd is None
        else f"${outcome.cost_usd:.4f}"
    )
    console.print(
        f"judge calls: {s.requests} HTTP requests ({s.retries} retries), {s.cache_hits} cache hits, "
        f"{tokens} tokens, {spent}"
    )
