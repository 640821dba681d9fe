"""``vipbench leaderboard build``: every scored run in results/ → one static website, one run in memory at a time.

Each run is read, its sample files and pictures are written, and only its entry (the overview's numbers, no
sample) is kept; index.html is rendered from the entries at the end. The peak memory is one run's, whatever the
number of runs. A rebuild reads again only the runs whose files changed since their pages were written (the build
state, ``state.py``); the others' entries come from their state files, and index.html is rendered anew.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from vipbench.errors import VipbenchError
from vipbench.leaderboard.files import check_out_dir, claim_out_dir, clean_stale, copy_run_files, write_text
from vipbench.leaderboard.images import ImageWriter, RunImages
from vipbench.leaderboard.loading import LoadedRun, load_run
from vipbench.leaderboard.page import render_index
from vipbench.leaderboard.samples import write_unit_samples
from vipbench.leaderboard.state import BuildState, RunState, fingerprint
from vipbench.leaderboard.summary import RunEntry, summarize
from vipbench.leaderboard.tables import build_model
from vipbench.results import BrokenRun, each_run, warn_stderr
from vipbench.site_layout import site_key, unique_key
from vipbench.store import RunStore


def build_site(
    results_dir: Path, out_dir: Path | None = None, *, console=None, warn: Callable[[str], None] = warn_stderr
) -> Path:
    """Build the static leaderboard of every scored run in ``results_dir``; return the path of index.html.

    ``out_dir`` defaults to ``<results_dir>/leaderboard``. A rebuild there reads again only the runs whose files
    changed, reuses the pictures already drawn, and removes the files of runs that are gone. A run with a file that
    cannot be read is skipped with one ``warn`` line (its copies from the last build are kept), and a picture that
    does not decode is replaced by a note.
    """
    results_dir = Path(results_dir)
    out_dir = Path(out_dir) if out_dir is not None else results_dir / "leaderboard"
    if not results_dir.is_dir():
        raise VipbenchError(f"results folder not found: {results_dir}")
    check_out_dir(out_dir, results_dir)
    site = SiteBuild(out_dir, console)
    entries, broken = each_run(results_dir, site.add_run, warn=None)
    _check_something_to_show(results_dir, entries, broken)
    for exc in broken:
        warn(f"skipped run {exc.run_id}: {exc}")
    return site.finish(entries, broken, warn)


def _check_something_to_show(results_dir: Path, entries: list[RunEntry], broken: list[BrokenRun]) -> None:
    if broken and not entries:
        more = f" (and {len(broken) - 1} more broken run(s))" if len(broken) > 1 else ""
        raise VipbenchError(f"no run in {results_dir} can be read: {broken[0]}{more}")
    if not entries:
        raise VipbenchError(f"no runs in {results_dir}: make one with vipbench run, then grade it with vipbench judge")
    if not any(e.scored for e in entries):
        raise VipbenchError(
            f"no scored runs in {results_dir} ({len(entries)} run(s) without scores.json): "
            "grade them with vipbench judge first"
        )


class SiteBuild:
    """One build of the site. ``add_run`` each run (read, written, dropped: its entry is what is kept), then
    ``finish`` writes what lists them all. Nothing is written until a scored run is, so a build that finds
    nothing to show leaves no folder behind."""

    def __init__(self, out_dir: Path, console=None):
        self.out_dir, self.console = out_dir, console
        self.images = ImageWriter(out_dir)
        self.state = BuildState(out_dir)
        self.keys: set[str] = set()
        self.written: set[Path] = set()
        """Every file of the site this build wrote or keeps: what ``clean_stale`` leaves."""
        self.pictures = RunImages()
        """The pictures of every run so far (the failed ones and the unreadable sources, for the page)."""
        self._claimed = False

    def add_run(self, store: RunStore) -> RunEntry:
        """One run's entry: from its state file when its files have not changed since its pages were written, else
        read, its sample files and pictures written. Raises BrokenRun."""
        key = unique_key(site_key(store.run_id), self.keys)
        files = fingerprint(store.path)
        state = self.state.reusable(store, key, files)
        if state is None or state.images.failed or state.images.missing:  # a picture that failed is tried again
            state = self._write_run(load_run(store), key, files)
        else:
            self.state.keep(key, self.written)
        self.keys.add(key.lower())
        self.written |= {self.out_dir / p for p in state.written}
        self._keep_pictures(state.images)
        return state.entry

    def _write_run(self, run: LoadedRun, key: str, files: dict[str, list[int] | None]) -> RunState:
        written: set[Path] = set()
        units = []
        if run.scores and run.scores.units:
            self._claim()
            units = write_unit_samples(run, key, self.out_dir, self.images, written, self.console)
        paths = sorted(p.relative_to(self.out_dir).as_posix() for p in written)
        state = RunState(summarize(run, key, units), files, paths, self.images.finish_run())
        if units:
            self.state.save(state, self.written)
        return state

    def _keep_pictures(self, images: RunImages) -> None:
        self.written |= {self.out_dir / p for p in images.used}
        self.pictures.missing += [m for m in images.missing if m not in self.pictures.missing]
        self.pictures.failed.update(images.failed)

    def _claim(self) -> None:
        if not self._claimed:
            claim_out_dir(self.out_dir)
            self._claimed = True

    def finish(self, entries: list[RunEntry], broken: list[BrokenRun], warn: Callable[[str], None]) -> Path:
        """Copy each run's manifest and scores, write index.html, and remove what no run uses any more."""
        self._claim()
        for entry in entries:
            entry.info["files"] = copy_run_files(RunStore(Path(entry.folder)), entry.key, self.out_dir, self.written)
        for exc in broken:  # a broken run's copies from the last build stay: its manifest's copy may repair it
            if site_key(exc.run_id).lower() not in self.keys:
                self.written |= {p for p in (self.out_dir / "runs" / site_key(exc.run_id)).glob("*") if p.is_file()}
        failed = self.pictures.failed
        if failed:
            example = next(iter(failed.values()))
            warn(f"{len(failed)} picture(s) could not be made, so their samples show a note instead ({example})")
        index = self.out_dir / "index.html"
        skipped = [{"run": exc.run_id, "problem": str(exc)} for exc in broken]
        infos, units = [e.info for e in entries], [u for e in entries for u in e.units]
        page = render_index(
            build_model(entries), infos, units, self.pictures.missing, skipped, self.out_dir, self.written
        )
        write_text(index, page, self.written)
        clean_stale(self.out_dir, self.written)
        return index
