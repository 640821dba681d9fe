"""``vipbench leaderboard build``: every scored run in results/ → one static website.

The site is plain files: ``index.html`` (the overview tables rendered with jinja2 autoescaping), ``app.js`` and
``style.css`` from the built-in ``leaderboard/`` folder, the downsized images under ``img/``, one
``data/<run>/<unit>.js`` file of samples per scored unit (loaded on demand with ``<script src>``, which works
from file:// where fetch does not), and a copy of each run's manifest and scores under ``runs/``. Nothing is
fetched from a network, and a Content-Security-Policy in the page forbids it. Rebuilding reads only the run
folders: no judge is called and no model is loaded.

One module per job:

- ``loading``: one run folder read and validated (its scores, predictions and the grades scores.json used);
- ``summary``: what the site keeps of a run once its samples are written (no sample in it);
- ``tables``: the overview tables, from those summaries; ``views``: how a number and a grader look in them;
- ``samples``: the sample browser's per-unit data files; ``images``: the downsized pictures;
- ``regions_out``: a REC or RES sample's truth and answered box or mask, drawn into its picture, and its IoU line;
- ``escaping``: JSON that untrusted text cannot break out of; ``page``: index.html;
- ``files``: writing into the site folder (its folders and names are ``vipbench.site_layout``'s, which
  ``vipbench runs`` reads too);
- ``state``: what each run's files were when its pages were written, so a rebuild redoes only the changed runs;
- ``build``: the build itself, one run in memory at a time.
"""

from vipbench.leaderboard.build import build_site
from vipbench.leaderboard.escaping import script_json
from vipbench.leaderboard.images import IMAGE_MAX_SIDE
from vipbench.leaderboard.loading import LoadedRun, load_run

__all__ = ["IMAGE_MAX_SIDE", "LoadedRun", "build_site", "load_run", "script_json"]
