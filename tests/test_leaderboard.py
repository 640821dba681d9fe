"""The static leaderboard, built from real run folders: the fixture ViP-Bench, scripted models, and the
loopback judge. Checks the numbers against scores.json, that unlike runs stay apart, the escaping of hostile
predictions, prompt-style tables, images, rebuilds, and the errors."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fixture_data import write_vip_bench
from judge_server import JudgeServer
from PIL import Image
from scripted import ScriptedAdapter, use_script

from vipbench import cli
from vipbench.errors import VipbenchError
from vipbench.leaderboard import IMAGE_MAX_SIDE, build_site, load_run, script_json
from vipbench.models import MODELS
from vipbench.records import Judgement, Manifest, PredictionRecord, RunSpec, TaskProvenance
from vipbench.resources import builtin_dir
from vipbench.runner import run
from vipbench.scoring.aggregate import summarise
from vipbench.scoring.record import RunScores, ScoredBy, UnitScores, fmt
from vipbench.scoring.scorers import Mean
from vipbench.scoring.spec import scoring_spec
from vipbench.store import RunStore, append_jsonl, write_json
from vipbench.tasks import TaskIndex

HOSTILE = "</script><script>alert(1)</script>"
IMG_XSS = "<img src=x onerror=alert(1)>"
EVIL_MODEL = "evil</script><script>alert(2)</script>"
# ViP-Bench fixture references: v1_0 0.75<OR>x=0.75<OR>3/4, v1_1 cat, v1_2 -1<AND>-5, v1_3 "the cup is left of the
# plate", v1_5 STOP, v1_6 Paris<OR>paris, v1_7 12.
ALPHA = {
    "v1_0": "x = 3/4",
    "v1_1": HOSTILE + " a cat",
    "v1_2": "-1 " + IMG_XSS,
    "v1_3": "the cup is left of the plate",
    "v1_5": "STOP\u2028<!-- -->",
    "v1_6": "Paris",
}
BETA = {"v1_0": "no", "v1_1": "cat", "v1_2": "-1 and -5", "v1_5": "stop", "v1_7": "[[400]] 12"}
PAIRS = {"alpha": "lb-alpha", "beta": "lb-beta", "evil": EVIL_MODEL}


def _register() -> None:
    for name in PAIRS.values():
        if name not in MODELS:
            MODELS.register(name, ScriptedAdapter, "leaderboard test model")


SYNTH_TYPES = ["color", "count", "position"]
SYNTH_SHAPES = ["rectangle", "ellipse", "arrow"]


def write_metric_run(results: Path, run_id: str, n: int = 45) -> None:
    """A run of an offline, metric-scored task written record by record, as the coming ``vip-synth`` writes it:
    breakdowns ``question_type`` and ``shape``, no judge, one grade per item."""
    folder = results / run_id
    (folder / "images").mkdir(parents=True)
    predictions, judgements, rows = [], [], []
    for i in range(n):
        image = folder / "images" / f"{i}.png"
        Image.new("RGB", (96 + i, 64), (20 * (i % 12), 120, 200)).save(image)
        meta = {"question_type": SYNTH_TYPES[i % 3], "shape": SYNTH_SHAPES[(i // 3) % 3]}
        score = 10.0 if i % 4 else 0.0
        record = PredictionRecord(
            task="vip-synth",
            sample_id=f"s{i:03d}",
            region_mode="overlay",
            prediction=f"answer {i}",
            prompt=f"What is the {meta['question_type']} of the object inside the {meta['shape']}? ({i})",
            references=[f"answer {i}"],
            metadata=meta,
            image=str(image),
            doc_hash="d",
            prompt_hash="p",
            target_hash="t",
            seconds=0.0,
        )
        predictions.append(record)
        judgements.append(
            Judgement(
                grade_key=f"k{i}",
                task="vip-synth",
                sample_id=f"s{i:03d}",
                run=0,
                grader="metric:exact",
                version=1,
                status="ok",
                values={"score": score},
                created="2026-01-01T00:00:00+00:00",
            )
        )
        rows.append((record, [{"score": score}]))
    summary = summarise(Mean(), rows, 1, ["question_type", "shape"])
    unit = UnitScores(
        unit="vip-synth",
        task="vip-synth",
        region_mode="overlay",
        scored_by=ScoredBy(scorer="mean", scorer_version=1, grader="metric:exact", grader_version=1, runs=1),
        dataset_hash="synthhash" * 4,
        prompt_hash="p" * 32,
        n=n,
        planned=n,
        expected_grades=n,
        failed=0,
        headline=summary.headline,
        total=summary.total,
        breakdowns=summary.breakdowns,
        combinations=summary.combinations,
    )
    write_json(
        folder / "scores.json",
        RunScores(
            run_id=run_id, model="lb-alpha", status="complete", predictions=n, planned=n, units={"vip-synth": unit}
        ).model_dump(mode="json"),
    )
    append_jsonl(folder / "predictions.jsonl", predictions, sync=False)
    append_jsonl(folder / "judgements.jsonl", judgements, sync=False)
    provenance = TaskProvenance(
        version=1,
        source="generated",
        samples=n,
        dataset_hash="synthhash" * 4,
        prompt_hash="p" * 32,
        requests={"vip-synth": n},
        generation={},
        scoring=scoring_spec(TaskIndex().task("vip-synth").config),
    )
    manifest = Manifest(
        run_id=run_id,
        created="2026-01-02T00:00:00+00:00",
        updated="2026-01-02T00:00:00+00:00",
        status="complete",
        command=["vipbench", "run"],
        spec=RunSpec(model="lb-alpha", tasks=["vip-synth"]),
        model={"adapter": "ScriptedAdapter"},
        tasks={"vip-synth": provenance},
        environment={},
    )
    (folder / "manifest.json").write_text(manifest.model_dump_json(indent=2))


def make_results(base: Path) -> Path:
    """A results folder with the runs a leaderboard must handle; returns it.

    - alpha: two tasks, 3 judge runs; beta: the same, with one grade that always fails;
    - alpha-judge2 (re-judged by another judge model), alpha-template (another judge template),
      alpha-small (another dataset: a ViP-Bench of 6 items), alpha-limit (a --limit 6 smoke run: never ranked),
      alpha-shapes (prompt styles arrow and rectangle, --limit 3);
    - evil: a model whose name is markup; unscored: predictions only;
    - synth: a metric-scored offline task with two breakdowns and 45 items (written directly).
    """
    _register()
    data = write_vip_bench(base / "data" / "ViP-Bench")
    results = base / "results"
    dirs = {"vip-bench": str(data)}
    both = ["vip-bench-bbox", "vip-bench-human"]
    template = base / "variant.jinja"
    original = builtin_dir("judges") / "vip-bench-mmvet.jinja"
    template.write_text("A variant of the grading prompt.\n" + original.read_text(encoding="utf-8"), encoding="utf-8")

    def make(run_id: str, model: str, script: dict, tasks=("vip-bench-bbox",), **spec) -> None:
        use_script(script)
        run(
            RunSpec(model=model, tasks=list(tasks), **{"data_dirs": dirs, **spec}),
            results_dir=results,
            run_id=run_id,
            warn=lambda m: None,
        )

    make("alpha", "lb-alpha", ALPHA, both)
    make("beta", "lb-beta", BETA, both)
    make("alpha-judge2", "lb-alpha", ALPHA)
    make("alpha-template", "lb-alpha", ALPHA)
    small = write_vip_bench(base / "data-small" / "ViP-Bench", n=6)
    make("alpha-small", "lb-alpha", ALPHA, data_dirs={"vip-bench": str(small)})
    make("alpha-limit", "lb-alpha", ALPHA, limit=6)
    make("alpha-shapes", "lb-alpha", ALPHA, prompt_styles=["arrow", "rectangle"], limit=3)
    make("evil", EVIL_MODEL, {})
    make("unscored", "lb-beta", BETA)
    write_metric_run(results, "synth")
    old = os.environ.get("VIPBENCH_CACHE")
    os.environ["VIPBENCH_CACHE"] = str(base / "cache")
    try:
        with JudgeServer() as server:

            def judge(run_id: str, *extra: str) -> None:
                code = cli.main(
                    [
                        "judge",
                        run_id,
                        "--results",
                        str(results),
                        "--base-url",
                        server.url,
                        "--runs",
                        "3",
                        "--allow-failures",
                        "--max-retries",
                        "0",
                        *extra,
                    ]
                )
                assert code == 0, run_id

            for run_id in ("alpha", "beta", "alpha-judge2", "alpha-small", "alpha-limit", "alpha-shapes"):
                judge(run_id)
            judge("alpha-judge2", "--judge", "other-judge")  # judgements.jsonl keeps both judges' lines
            judge("alpha-template", "--judge-template", str(template))
            judge("evil", "--runs", "1")
    finally:
        if old is None:
            os.environ.pop("VIPBENCH_CACHE", None)
        else:
            os.environ["VIPBENCH_CACHE"] = old
    return results


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    results = make_results(tmp_path_factory.mktemp("leaderboard"))
    index = build_site(results)
    return results, index


def page_data(index: Path) -> dict:
    html = index.read_text(encoding="utf-8")
    match = re.search(r'<script id="vipbench-data" type="application/json">(.*?)</script>', html, re.S)
    assert match, "the embedded data is missing"
    return json.loads(match.group(1))


def plain_tags(row: dict) -> list[dict]:
    """A row's tags but its protocol's (whether these judged runs deviate depends on the judge prompt the tests
    can use offline; tests/test_deviation_labels.py tests protocol tags on runs whose protocol is fixed)."""
    return [t for t in row["tags"] if t["kind"] != "deviates" and t["text"] != "protocol not recorded"]


def plain_warnings(table: dict) -> list[str]:
    return [w for w in table["warnings"] if "deviate from the official protocol" not in w]


def scores_of(results: Path, run_id: str) -> RunScores:
    return RunScores.model_validate_json((results / run_id / "scores.json").read_text())


class Tables(HTMLParser):
    """Every <table data-table=...> of the page: header labels, and per row the run and the cell texts."""

    def __init__(self):
        super().__init__()
        self.tables: dict[str, dict] = {}
        self._table = None
        self._row = None
        self._cell: list[str] | None = None
        self._depth = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self._depth += 1
            if "data-table" in a and self._depth == 1:
                self._table = self.tables.setdefault(a["data-table"], {"headers": [], "rows": []})
        elif self._table is not None and tag == "tr":
            self._row = {"run": a.get("data-run"), "cells": []}
        elif self._table is not None and tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "table":
            self._depth -= 1
            if self._depth == 0:
                self._table = None
        elif self._table is not None and tag in ("td", "th") and self._cell is not None:
            text = " ".join("".join(self._cell).split())
            if self._row is not None:
                self._row["cells"].append((tag, text))
            self._cell = None
        elif self._table is not None and tag == "tr" and self._row is not None:
            if all(kind == "th" for kind, _ in self._row["cells"]):
                self._table["headers"] = [t for _, t in self._row["cells"]]
            else:
                self._table["rows"].append({"run": self._row["run"], "cells": [t for _, t in self._row["cells"]]})
            self._row = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def html_tables(index: Path) -> dict[str, dict]:
    parser = Tables()
    parser.feed(index.read_text(encoding="utf-8"))
    return parser.tables


# ------------------------------------------------------------------------------------------------- numbers


def test_overview_numbers_match_scores_json(site):
    results, index = site
    data = page_data(index)
    tables = html_tables(index)
    checked = 0
    for table in data["tables"]:
        html = tables[table["id"]]
        main = table["breakdowns"][0]
        assert html["headers"][1 : len(main["columns"]) + 2] == [c["label"] for c in main["columns"]] + ["All"]
        for row, html_row in zip(table["rows"], html["rows"]):
            assert html_row["run"] == row["run"]
            unit = scores_of(results, row["run"]).units[table["task"]]
            assert row["total"]["mean"] == unit.total.mean and row["total"]["std"] == unit.total.std
            assert html_row["cells"][len(main["columns"]) + 1] == fmt(unit.total)
            for i, column in enumerate(main["columns"]):
                stat = unit.breakdowns[main["key"]].get(column["key"])
                cell = row["cells"][main["key"]].get(column["key"])
                assert (cell and cell["mean"], cell and cell["n"]) == ((stat.mean, stat.n) if stat else (None, None))
                assert html_row["cells"][1 + i] == (fmt(stat) if stat else "–")
                checked += 1
            judge = html_row["cells"][len(main["columns"]) + 2]
            by = unit.scored_by
            if by.is_judge:
                assert by.judge_model in judge and f"×{by.runs}" in judge
                assert all(m in judge for m in by.reported_models)
            else:
                assert judge == f"metric {by.grader.removeprefix('metric:')} v{by.grader_version}"
    assert checked > 20


def test_vip_bench_columns_are_the_capability_labels_in_data_order(site):
    results, index = site
    table = next(t for t in page_data(index)["tables"] if t["task"] == "vip-bench-bbox")
    unit = scores_of(results, "alpha").units["vip-bench-bbox"]
    labels = [c["label"] for c in table["breakdowns"][0]["columns"]]
    assert labels[: len(unit.breakdowns["capability"])] == [s.label for s in unit.breakdowns["capability"].values()]
    assert set(labels) == {"Rec", "OCR", "Know", "Math", "Rel", "Lang"}
    groups = [g["name"] for g in page_data(index)["groups"]]
    assert groups == ["vip-bench", "vip-synth"]  # an unknown task is its own group


def test_breakdowns_render_generically(site):
    """A metric-scored task with two breakdowns: the first gives the main columns, the second its own table."""
    results, index = site
    table = next(t for t in page_data(index)["tables"] if t["task"] == "vip-synth")
    assert [b["key"] for b in table["breakdowns"]] == ["question_type", "shape"]
    assert [c["label"] for c in table["breakdowns"][0]["columns"]] == SYNTH_TYPES
    (row,) = table["rows"]
    assert row["judge"] == {
        "kind": "metric",
        "name": "exact",
        "model": None,
        "reported": [],
        "runs": 1,
        "template_hash": "",
        "template": "",
        "version": 1,
    }
    unit = scores_of(results, "synth").units["vip-synth"]
    html = index.read_text(encoding="utf-8")
    assert "by shape" in html
    for shape in SYNTH_SHAPES:
        assert row["cells"]["shape"][shape]["mean"] == unit.breakdowns["shape"][shape].mean
    assert fmt(unit.breakdowns["shape"]["arrow"]) in html


def test_each_run_is_its_own_row_and_differences_are_labelled(site):
    results, index = site
    data = page_data(index)
    bbox = next(t for t in data["tables"] if t["task"] == "vip-bench-bbox")
    runs = [r["run"] for r in bbox["rows"]]
    assert sorted(runs) == sorted(["alpha", "beta", "alpha-judge2", "alpha-template", "alpha-small", "evil"])
    assert "unscored" not in runs and "alpha-shapes" not in runs and "synth" not in runs
    # The --limit 6 smoke run is listed apart, never ranked, marked with its share of the task.
    (smoke,) = bbox["apart_rows"]
    assert smoke["run"] == "alpha-limit" and [t["text"] for t in plain_tags(smoke)] == ["limit 6/8"]
    warnings = " ".join(bbox["warnings"])
    for what in ("judge model", "judge template", "dataset"):
        assert what in warnings
    by_run = {r["run"]: r for r in bbox["rows"]}
    tags = {run: " ".join(t["text"] for t in plain_tags(row)) for run, row in by_run.items()}
    # The odd ones out carry what makes them odd; the rows produced alike carry nothing.
    assert tags["alpha-judge2"] == "judge model: other-judge"
    template_hash = scores_of(results, "alpha-template").units["vip-bench-bbox"].scored_by.template_hash
    assert tags["alpha-template"] == f"judge template: {template_hash[:8]}"
    limited = scores_of(results, "alpha-small").units["vip-bench-bbox"].dataset_hash[:8]
    assert tags["alpha-small"] == f"dataset: {limited}"  # its prompts differ too, but that follows from the data
    assert tags["alpha"] == "" and tags["evil"] == ""
    assert tags["beta"] == "3/24 grades failed"  # beta's [[400]] answer could not be graded
    (warning,) = plain_warnings(bbox)
    assert "differ in judge model (gpt-4-0613, other-judge), judge template (" in warning
    assert "and dataset (" in warning and limited in warning and "prompts" not in warning
    html = index.read_text(encoding="utf-8")
    assert "These rows differ in judge model" in html
    # The human split has only alpha and beta, graded alike: no warning there.
    human = next(t for t in data["tables"] if t["task"] == "vip-bench-human")
    assert [r["run"] for r in human["rows"]] == ["alpha", "beta"] and plain_warnings(human) == []
    # Each model links to the copy of its run's manifest.
    assert 'href="runs/alpha-judge2/manifest.json"' in html
    copied = json.loads((index.parent / "runs" / "alpha-judge2" / "manifest.json").read_text())
    assert copied == json.loads((results / "alpha-judge2" / "manifest.json").read_text())


def test_prompt_style_runs_show_a_score_per_shape(site):
    results, index = site
    data = page_data(index)
    (table,) = data["styles"]
    assert table["task"] == "vip-bench-bbox" and table["styles"] == ["arrow", "rectangle"]
    (row,) = table["rows"]
    scores = scores_of(results, "alpha-shapes")
    for style in ("arrow", "rectangle"):
        assert row["cells"][style]["mean"] == scores.units[f"vip-bench-bbox@{style}"].total.mean
    assert "limit 3/8" in [t["text"] for t in row["tags"]]  # a --limit run is marked in every table
    html_row = html_tables(index)[table["id"]]["rows"][0]
    assert html_row["run"] == "alpha-shapes"
    assert html_row["cells"][1:3] == [fmt(scores.units[f"vip-bench-bbox@{s}"].total) for s in ("arrow", "rectangle")]
    assert 'href="#styles"' in index.read_text(encoding="utf-8")
    units = {u["unit"] for u in data["units"] if u["run"] == "alpha-shapes"}
    assert units == {"vip-bench-bbox@arrow", "vip-bench-bbox@rectangle"}


# ---------------------------------------------------------------------------------------------- escaping


def test_script_json_cannot_end_a_script_element():
    text = script_json({"a": HOSTILE, "b": "<!-- x -->", "c": "line\u2028sep\u2029", "d": "a & b > c"})
    for bad in ("<", ">", "&", "\u2028", "\u2029"):
        assert bad not in text
    assert json.loads(text) == {"a": HOSTILE, "b": "<!-- x -->", "c": "line\u2028sep\u2029", "d": "a & b > c"}


def test_hostile_text_appears_only_escaped(site):
    results, index = site
    out = index.parent
    files = [p for p in out.rglob("*") if p.suffix in (".html", ".js") and p.parent.name != "assets"]
    assert len(files) > 5
    for path in files:
        text = path.read_text(encoding="utf-8")
        for raw in (HOSTILE, "<script>alert", IMG_XSS, "<img", "\u2028", "<!--"):
            assert raw not in text, f"{raw!r} unescaped in {path}"
    html = index.read_text(encoding="utf-8")
    assert html.count("<script") == 2  # the JSON data and app.js, nothing injected
    assert "evil&lt;/script&gt;&lt;script&gt;alert(2)&lt;/script&gt;" in html  # autoescaped in the tables
    # The escaped data decodes back to exactly what the model said.
    unit = next(u for u in page_data(index)["units"] if u["run"] == "alpha" and u["unit"] == "vip-bench-bbox")
    js = (out / unit["src"]).read_text(encoding="utf-8")
    match = re.fullmatch(r"vipbenchSamples\((\"[^\"]*\"),(.*)\);\n", js, re.S)
    assert match and json.loads(match.group(1)) == unit["key"]
    samples = {s["id"]: s for s in json.loads(match.group(2))["samples"]}
    assert samples["v1_1"]["prediction"] == ALPHA["v1_1"] and samples["v1_2"]["prediction"] == ALPHA["v1_2"]
    assert samples["v1_5"]["prediction"] == ALPHA["v1_5"]
    app = (out / "assets" / "app.js").read_text(encoding="utf-8")
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert sink not in re.sub(r"^\s*(/\*|\*).*$", "", app, flags=re.M), sink
    assert "Content-Security-Policy" in html and "connect-src 'none'" in html


# ------------------------------------------------------------------------------------------------ samples


def _samples(index: Path, run_id: str, unit_name: str) -> tuple[dict, dict]:
    unit = next(u for u in page_data(index)["units"] if u["run"] == run_id and u["unit"] == unit_name)
    js = (index.parent / unit["src"]).read_text(encoding="utf-8")
    payload = json.loads(js[js.index(",") + 1 : js.rindex(")")])
    return unit, {s["id"]: s for s in payload["samples"]}


def test_sample_files_carry_the_grades_behind_scores_json(site):
    results, index = site
    unit, samples = _samples(index, "alpha", "vip-bench-bbox")
    assert unit["breakdowns"][0]["key"] == "capability" and unit["judge"]["runs"] == 3
    assert len(samples) == 8
    s = samples["v1_0"]
    assert s["score"] == 100.0 and s["failed"] == 0 and [g["score"] for g in s["grades"]] == [100.0] * 3
    assert s["grades"][0]["replies"] == ["1.0"] and s["grades"][0]["reported"] == "gpt-4-0613-loopback"
    assert s["question"].startswith("What is the value of x") and s["references"] == ["0.75<OR>x=0.75<OR>3/4"]
    assert s["groups"] == {"capability": ["ocr", "math"]}
    assert samples["v1_2"]["score"] == 50.0  # on the overview's 0–100 scale
    # The per-sample means reproduce the unit's All score.
    total = scores_of(results, "alpha").units["vip-bench-bbox"].total.mean
    assert round(sum(s["score"] for s in samples.values()) / len(samples), 1) == total
    # beta's [[400]] answer failed in every judge run: shown as failed, never as a score.
    _, beta = _samples(index, "beta", "vip-bench-bbox")
    assert beta["v1_7"]["failed"] == 3 and beta["v1_7"]["score"] is None
    assert all(g["status"] == "failed" and g["error"] for g in beta["v1_7"]["grades"])


def test_only_the_current_judges_grades_are_shown(site):
    results, index = site
    lines = [
        Judgement.model_validate_json(x)
        for x in (results / "alpha-judge2" / "judgements.jsonl").read_text().splitlines()
    ]
    assert {j.judge_model for j in lines} == {"gpt-4-0613", "other-judge"}
    _, samples = _samples(index, "alpha-judge2", "vip-bench-bbox")
    reported = {g["reported"] for s in samples.values() for g in s["grades"]}
    assert reported == {"other-judge-loopback"}


def test_images_are_downsized_deduplicated_and_overlays_drawn(site):
    results, index = site
    out = index.parent
    images = sorted((out / "img").iterdir())
    used = {s["image"] for u in page_data(index)["units"] for s in _samples(index, u["run"], u["unit"])[1].values()}
    assert None not in used and {f"img/{p.name}" for p in images} == used
    # bbox + human pre-rendered images (8 + 8), the two redrawn shapes (3 + 3), shared by every run; synth's 45.
    assert len(images) == 8 + 8 + 3 + 3 + 45
    for path in images:
        with Image.open(path) as im:
            assert im.format == "JPEG" and max(im.size) <= IMAGE_MAX_SIDE
    _, arrow = _samples(index, "alpha-shapes", "vip-bench-bbox@arrow")
    _, rect = _samples(index, "alpha-shapes", "vip-bench-bbox@rectangle")
    with Image.open(out / arrow["v1_0"]["image"]) as a, Image.open(out / rect["v1_0"]["image"]) as r:
        assert a.size == r.size and list(a.getdata()) != list(r.getdata())


def test_regions_given_as_boxes_are_drawn_over_the_image_and_spelled_out(tmp_path):
    """A box-mode run: the sample view draws the regions the model was given and shows the question as a person
    reads it, not with bare <region> tokens."""
    results = tmp_path / "results"
    args = ["run", "--model", "oracle", "--tasks", "vip-synth", "--limit", "5", "--region-mode", "box"]
    assert cli.main([*args, "--results", str(results), "--run-id", "boxes"]) == 0
    index = build_site(results)
    _, samples = _samples(index, "boxes", "vip-synth")
    sample = samples["compare-000-rectangle"]
    assert "<region>" not in sample["question"] and sample["question"].count("the region [") == 2
    record = next(
        PredictionRecord.model_validate_json(line)
        for line in (results / "boxes" / "predictions.jsonl").read_text().splitlines()
        if '"compare-000-rectangle"' in line
    )
    with Image.open(index.parent / sample["image"]) as shown, Image.open(record.image) as source:
        plain = source.convert("RGB")
        plain.thumbnail((IMAGE_MAX_SIDE, IMAGE_MAX_SIDE))
        assert shown.size == plain.size
        x1, y1, x2, y2 = (round(v) for v in record.regions[0].box)
        edge = [shown.getpixel((x, y1)) for x in range(x1 + 2, x2 - 2)]
        assert sum(1 for r, g, b in edge if r > 180 and g < 90 and b < 90) > len(edge) // 2  # a red outline


# ------------------------------------------------------------------------------------- rebuilds and errors


def test_rebuild_reuses_images_and_drops_removed_runs(site, tmp_path):
    results, _ = site
    copy = tmp_path / "results"
    shutil.copytree(results, copy, ignore=shutil.ignore_patterns("leaderboard"))
    out = tmp_path / "site"
    index = build_site(copy, out)
    stamps = {p.name: p.stat().st_mtime_ns for p in (out / "img").iterdir()}
    shutil.rmtree(copy / "alpha-shapes")
    shutil.rmtree(copy / "evil")
    index = build_site(copy, out)
    assert not (out / "runs" / "alpha-shapes").exists() and not (out / "data" / "evil").exists()
    left = {p.name: p.stat().st_mtime_ns for p in (out / "img").iterdir()}
    assert len(left) == 16 + 45 and all(stamps[name] == stamp for name, stamp in left.items())
    assert page_data(index)["styles"] == []
    assert 'href="#styles"' not in index.read_text(encoding="utf-8")


def _stamps(out: Path) -> dict[str, int]:
    """Each sample file and picture of a site, by site path: its modification time (ns)."""
    return {
        p.relative_to(out).as_posix(): p.stat().st_mtime_ns for d in ("data", "img") for p in (out / d).rglob("*.*")
    }


def test_a_rebuild_reads_only_the_runs_whose_files_changed(site, tmp_path):
    results, _ = site
    copy = tmp_path / "results"
    shutil.copytree(results, copy, ignore=shutil.ignore_patterns("leaderboard", "synth"))
    out = tmp_path / "site"
    build_site(copy, out)
    before = _stamps(out)
    assert sorted(p.stem for p in (out / ".vipbench-state").iterdir()) == sorted(
        ["alpha", "beta", "alpha-judge2", "alpha-template", "alpha-small", "alpha-limit", "alpha-shapes", "evil"]
    )
    # beta's predictions turn to garbage of the same size and time: unchanged as far as a rebuild can tell, so it
    # is not read again (read, it would be skipped with a warning). alpha is re-scored; synth is new.
    predictions = copy / "beta" / "predictions.jsonl"
    st = predictions.stat()
    predictions.write_bytes(b"x" * (st.st_size - 1) + b"\n")
    os.utime(predictions, ns=(st.st_atime_ns, st.st_mtime_ns))
    (copy / "alpha" / "scores.json").write_bytes((copy / "alpha" / "scores.json").read_bytes())
    shutil.copytree(results / "synth", copy / "synth")
    warnings: list[str] = []
    index = build_site(copy, out, warn=warnings.append)
    assert warnings == []
    after = _stamps(out)
    rewritten = {p for p in after if before.get(p) != after[p]}
    assert rewritten == {p for p in after if p.startswith(("data/alpha/", "data/synth/")) or p not in before}
    assert len(after) - len(before) == 45 + 1  # synth's pictures and its sample file
    assert {u["run"] for u in page_data(index)["units"]} >= {"beta", "synth"}

    # The site is the one a build from scratch makes.
    shutil.copy2(results / "beta" / "predictions.jsonl", predictions)
    fresh = build_site(copy, tmp_path / "fresh")
    assert page_data(index) == page_data(fresh)
    for path in after:
        if path.startswith("data/"):
            assert (out / path).read_bytes() == (fresh.parent / path).read_bytes(), path
    # A sample file gone from the site is written again, with its run's.
    gone = next(p for p in after if p.startswith("data/evil/"))
    (out / gone).unlink()
    build_site(copy, out)
    assert (out / gone).read_bytes() == (fresh.parent / gone).read_bytes()
    assert {p for p, t in _stamps(out).items() if after.get(p) != t} == {p for p in after if p.startswith("data/evil/")}


def test_refuses_to_write_into_a_foreign_folder(site, tmp_path):
    results, _ = site
    (tmp_path / "mine.txt").write_text("keep me")
    with pytest.raises(VipbenchError, match="not empty"):
        build_site(results, tmp_path)
    assert (tmp_path / "mine.txt").read_text() == "keep me"


def test_empty_results_fail_clearly(tmp_path):
    with pytest.raises(VipbenchError, match="no runs in"):
        build_site(tmp_path)
    with pytest.raises(VipbenchError, match="results folder not found"):
        build_site(tmp_path / "missing")
    assert not (tmp_path / "leaderboard").exists()


def test_unscored_runs_only_fail_clearly(site, tmp_path):
    results, _ = site
    shutil.copytree(results / "unscored", tmp_path / "unscored")
    with pytest.raises(VipbenchError, match="no scored runs.*vipbench judge"):
        build_site(tmp_path)


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("scores.json", "{not json", "scores.json: invalid scores file"),
        ("scores.json", '{"run_id": "x", "model": "m"}', "scores.json: invalid scores file: status: field required"),
        ("predictions.jsonl", '{"task": 1}\n', "predictions.jsonl: line 1 is not a valid record"),
        ("judgements.jsonl", "garbage\n", "judgements.jsonl: line 1 is not a valid record"),
        ("manifest.json", '{"run_id": "x"}', "manifest.json: invalid manifest"),
    ],
)
def test_malformed_run_files_are_named(site, tmp_path, name, content, message):
    results, _ = site
    shutil.copytree(results / "alpha", tmp_path / "alpha")
    (tmp_path / "alpha" / name).write_text(content)
    with pytest.raises(VipbenchError, match=re.escape(message)) as info:
        build_site(tmp_path)
    assert str(tmp_path / "alpha") in str(info.value) and "\n" not in str(info.value)


def test_load_run_reads_without_writing(site, tmp_path):
    results, _ = site
    shutil.copytree(results / "alpha", tmp_path / "alpha")
    path = tmp_path / "alpha" / "predictions.jsonl"
    torn = path.read_bytes() + b'{"task": "vip-bench-bb'  # a line torn by a kill
    path.write_bytes(torn)
    run = load_run(RunStore(tmp_path / "alpha"))
    assert len(run.predictions) == 16 and path.read_bytes() == torn


# What a rebuild must never import: the judge, grading, the chat client, torch, a model adapter. (vipbench.chat's
# price table is data that scores.json's record reads, not a client.)
NOT_ON_REBUILD = ("vipbench.scoring.judge", "vipbench.scoring.grade", "vipbench.scoring.service", "vipbench.chat")
ADAPTERS = sorted(
    f"vipbench.models.{p.stem}" for p in (Path(cli.__file__).parents[1] / "models").glob("*.py") if p.stem != "__init__"
)


def test_no_judge_and_no_model_on_rebuild(site, tmp_path):
    """In a fresh interpreter, so that an import at the top of any module the build reaches is caught."""
    results, _ = site
    script = (
        "import sys\n"
        "from vipbench.leaderboard import build_site\n"
        f"assert build_site({str(results)!r}, {str(tmp_path / 'again')!r}).is_file()\n"
        "print(' '.join(sorted(sys.modules)))\n"
    )
    env = {**os.environ, "OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "OPENAI_API_KEY": "unused"}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    modules = set(proc.stdout.split())
    assert {"vipbench.leaderboard.build", "vipbench.scoring.record"} <= modules  # it did build, from scores.json
    assert "vipbench.models.llava" in ADAPTERS and len(ADAPTERS) > 5
    imported = sorted(
        m
        for m in modules
        if m in ("torch", "transformers", "openai")
        or m.startswith(("torch.", "transformers.", "openai."))
        or m in ADAPTERS
        or m.startswith("vipbench.models.tiny")
        or (m.startswith(NOT_ON_REBUILD) and m not in ("vipbench.chat", "vipbench.chat.pricing"))
    )
    assert imported == []
