"""index.html: the overview tables rendered with jinja2 (autoescaped), the site's data embedded as JSON, and the
assets copied beside it. It lists every run and every scored unit; the samples stay in their own files."""

from __future__ import annotations

import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from vipbench.leaderboard.escaping import script_json
from vipbench.leaderboard.views import short

ASSETS = ("app.js", "style.css")


def render_index(
    site: dict[str, Any],
    run_infos: list[dict[str, Any]],
    units_index: list[dict[str, Any]],
    missing: list[str],
    skipped: list[dict[str, str]],
    out_dir: Path,
    written: set[Path],
) -> str:
    """index.html, with the site's assets copied beside it. ``missing``: source images that could not be read."""
    import jinja2
    from markupsafe import Markup

    from vipbench import __version__
    from vipbench.resources import builtin_dir

    template_dir = builtin_dir("leaderboard")
    for asset in ASSETS:
        target = out_dir / "assets" / asset
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(template_dir / asset, target)
        written.add(target)
    data = {
        **site,
        "runs": run_infos,
        "units": units_index,
        "missing_images": missing[:20],
        "missing_image_count": len(missing),
        "skipped": skipped,
    }
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["script_json"] = lambda obj: Markup(script_json(obj))
    env.filters["short"] = short
    built = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return env.get_template("index.html.j2").render(
        site=site,
        runs=run_infos,
        data=data,
        built=built,
        version=__version__,
        scored=sum(1 for r in run_infos if r["scored"]),
        missing=missing,
        skipped=skipped,
        run_keys={r["id"]: r["key"] for r in run_infos},
        run_files={r["id"]: r["files"] for r in run_infos},
        unit_keys={(u["run"], u["unit"]): u["key"] for u in units_index},
    )
