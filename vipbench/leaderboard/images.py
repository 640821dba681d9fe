"""The site's pictures: each sample's image as the model saw it (its prompts drawn), downsized to a JPEG; for a REC or
RES sample, the truth and the region the model answered with drawn over it."""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vipbench.errors import VipbenchError
from vipbench.progress import progress_bar

IMAGE_MAX_SIDE = 768
JPEG_QUALITY = 85


@dataclass
class RunImages:
    """The pictures one run's samples show: what the build state keeps, so that an unchanged run's pictures stay."""

    used: list[str] = field(default_factory=list)
    """Site paths (``img/<hash>.jpg``) of the pictures made or reused."""
    missing: list[str] = field(default_factory=list)
    """Source images that could not be read: their samples show no picture."""
    failed: dict[str, str] = field(default_factory=dict)
    """Site path → why its picture could not be made (the source file does not decode)."""


class ImageWriter:
    """Renders each distinct (image file, overlays) once into ``img/`` as a downsized JPEG.

    Files are named by a hash of the source bytes and the overlays, so a rebuild reuses what is there and
    the same picture seen by ten models is stored once. ``plan`` each sample of a run, ``render``, ``settle`` each
    sample, then ``finish_run`` says which pictures that run uses.
    """

    def __init__(self, out_dir: Path):
        self.dir = out_dir / "img"
        self._digests: dict[str, str | None] = {}
        self.jobs: dict[str, tuple[Path, list[dict[str, Any]], dict[str, Any] | None]] = {}
        self.failed: dict[str, str] = {}
        """Site path → why its picture could not be made, for every run of this build."""
        self._sources: dict[str, str] = {}
        """Site path → the source file of a picture that could not be made."""
        self._used: dict[str, None] = {}
        self._missing: dict[str, None] = {}

    def _digest(self, path: str) -> str | None:
        if path not in self._digests:
            try:
                self._digests[path] = hashlib.sha256(Path(path).read_bytes()).hexdigest()
            except OSError:
                self._digests[path] = None
        if self._digests[path] is None:
            self._missing[path] = None
        return self._digests[path]

    def plan(self, image: str, overlays: list[dict[str, Any]], answer: dict[str, Any] | None = None) -> str | None:
        """The site-relative path the image will have, or None if the source file is unreadable. ``answer``: the
        truth and the region a model answered with, drawn over it (``regions_out.drawn_answer``)."""
        digest = self._digest(image)
        if digest is None:
            return None
        drawn = json.dumps(overlays, sort_keys=True) + ("" if answer is None else json.dumps(answer, sort_keys=True))
        key = hashlib.sha256(f"{digest}|{IMAGE_MAX_SIDE}|{drawn}".encode()).hexdigest()[:24]
        name = f"{key}.jpg"
        site_path = f"img/{name}"
        self._used[site_path] = None
        if site_path not in self.failed and not (self.dir / name).exists():
            self.jobs[name] = (Path(image), overlays, answer)
        return site_path

    def settle(self, sample: dict[str, Any]) -> None:
        """After ``render``: a sample whose picture could not be made shows none, with a note saying why."""
        why = self.failed.get(sample["image"] or "")
        if why is not None:
            sample["image"], sample["image_note"] = None, why

    def finish_run(self) -> RunImages:
        """The pictures the run planned since the last call, and those it could not have."""
        failed = {p: self.failed[p] for p in self._used if p in self.failed}
        missing = list(dict.fromkeys([*self._missing, *(self._sources[p] for p in failed)]))
        done = RunImages([p for p in self._used if p not in failed], missing, failed)
        self._used, self._missing = {}, {}
        return done

    def render(self, console=None) -> None:
        """Make the planned pictures. One whose source does not decode is left out (``failed``), never fatal."""
        jobs = list(self.jobs.items())
        self.jobs.clear()
        if not jobs:
            return
        self.dir.mkdir(parents=True, exist_ok=True)

        def one(job: tuple[str, tuple[Path, list[dict[str, Any]], dict[str, Any] | None]]) -> None:
            name, (source, overlays, answer) = job
            try:
                render_image(source, overlays, self.dir / name, answer)
            except (VipbenchError, OSError, ValueError) as exc:
                self.failed[f"img/{name}"] = f"image not shown: {exc}"
                self._sources[f"img/{name}"] = str(source)

        workers = max(1, min(8, os.cpu_count() or 1))
        with ThreadPoolExecutor(workers) as pool:
            if len(jobs) < 50:
                list(pool.map(one, jobs))
                return
            with progress_bar(console) as progress:
                bar = progress.add_task("leaderboard images", total=len(jobs), detail="")
                for _ in pool.map(one, jobs):
                    progress.advance(bar)


def render_image(
    source: Path, overlays: list[dict[str, Any]], target: Path, answer: dict[str, Any] | None = None
) -> None:
    """The downsized JPEG of one source image with its overlays drawn, written atomically. A model's answered
    region and the truth are drawn after downsizing, so their lines are as thick at any image size."""
    from vipbench.imaging import load_rgb

    image = load_rgb(source)
    if overlays:
        from vipbench.prompting import draw_overlays
        from vipbench.types import Overlay

        image = draw_overlays(image, [Overlay.from_dict(o) for o in overlays])
    image.thumbnail((IMAGE_MAX_SIDE, IMAGE_MAX_SIDE))
    if answer is not None:
        from vipbench.leaderboard.regions_out import draw_answer

        image = draw_answer(image, answer)
    tmp = target.with_name(f".{target.name}.tmp")
    image.save(tmp, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    os.replace(tmp, target)
