"""``vipbench leaderboard build``: every scored run in results/ → one static website."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from vipbench.errors import VipbenchError
from vipbench.leaderboard.files import clean_stale, copy_run_files, prepare_out_dir, write_text
from vipbench.leaderboard.images import ImageWriter
from vipbench.leaderboard.layout import site_key, unique_key
from vipbench.leaderboard.loading import LoadedRun, load_run
from vipbench.leaderboard.page import render_index, run_info
from vipbench.leaderboard.samples import write_unit_samples
from vipbench.leaderboard.tables import build_model
from vipbench.results import BrokenRun, each_run, warn_stderr


def build_site(
    results_dir: Path, out_dir: Path | None = None, *, console=None, warn: Callable[[str], None] = warn_stderr
) -> Path:
    """Build the static leaderboard of every scored run in ``results_dir``; return the path of index.html.

    ``out_dir`` defaults to ``<results_dir>/leaderboard``. A rebuild reuses images already rendered there and
    removes the files of runs that are gone. A run with a file that cannot be read is skipped with one ``warn``
    line (its copies from the last build are kept), and a picture that does not decode is replaced by a note.
    """
    results_dir = Path(results_dir)
    out_dir = Path(out_dir) if out_dir is not None else results_dir / "leaderboard"
    runs, broken = _scored_runs(results_dir, warn)
    prepare_out_dir(out_dir, results_dir)
    site = build_model(runs)

    written: set[Path] = set()
    keys: set[str] = set()
    images = ImageWriter(out_dir)
    run_infos, units_index = [], []
    for run in runs:
        key = unique_key(site_key(run.run_id), keys)
        run_infos.append(run_info(run, key, copy_run_files(run.store, key, out_dir, written)))
        if run.scores and run.scores.units:
            units_index += write_unit_samples(run, key, out_dir, images, written, console)
    written |= images.written
    for exc in broken:  # a broken run's copies from the last build stay: its manifest's copy may repair it
        if site_key(exc.run_id).lower() not in keys:
            written |= {p for p in (out_dir / "runs" / site_key(exc.run_id)).glob("*") if p.is_file()}
    if images.failed:
        example = next(iter(images.failed.values()))
        warn(f"{len(images.failed)} picture(s) could not be made, so their samples show a note instead ({example})")

    index = out_dir / "index.html"
    skipped = [{"run": exc.run_id, "problem": str(exc)} for exc in broken]
    write_text(index, render_index(site, run_infos, units_index, images.missing, skipped, out_dir, written), written)
    clean_stale(out_dir, written)
    return index


def _scored_runs(results_dir: Path, warn: Callable[[str], None]) -> tuple[list[LoadedRun], list[BrokenRun]]:
    """The readable runs and the broken ones (each named in one warning line), when there is something to build."""
    if not results_dir.is_dir():
        raise VipbenchError(f"results folder not found: {results_dir}")
    runs, broken = each_run(results_dir, load_run, warn=None)
    if broken and not runs:
        more = f" (and {len(broken) - 1} more broken run(s))" if len(broken) > 1 else ""
        raise VipbenchError(f"no run in {results_dir} can be read: {broken[0]}{more}")
    for exc in broken:
        warn(f"skipped run {exc.run_id}: {exc}")
    if not runs:
        raise VipbenchError(f"no runs in {results_dir}: make one with vipbench run, then grade it with vipbench judge")
    if not any(r.scores and r.scores.units for r in runs):
        raise VipbenchError(
            f"no scored runs in {results_dir} ({len(runs)} run(s) without scores.json): "
            "grade them with vipbench judge first"
        )
    return runs, broken
