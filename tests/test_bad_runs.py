"""One bad run is one warning line: a run folder with a truncated scores.json or manifest.json, a bad JSONL line
or a picture that does not decode is skipped (or shown without that picture) by ``vipbench runs``, the pandas
API and ``leaderboard build``, named with the command that repairs it, and the others are listed as ever."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from browser import CHROMIUM, launch

from vipbench.cli import main
from vipbench.errors import VipbenchError
from vipbench.leaderboard import build_site
from vipbench.results import load_runs, load_scores

GOOD = ("oracle", "blind")


def vipbench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vipbench", *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> Path:
    """Two good runs of vip-synth (oracle and blind, 20 items each), scored; the tests copy them."""
    results = tmp_path_factory.mktemp("bad-runs") / "made"
    for model in GOOD:
        args = ["run", "--model", model, "--tasks", "vip-synth", "--limit", "20", "--run-id", model]
        assert main([*args, "--results", str(results)]) == 0
    return results


@pytest.fixture
def results(made, tmp_path) -> Path:
    """The good runs, and ``broken``: a copy of the oracle run the test breaks."""
    results = tmp_path / "results"
    shutil.copytree(made, results)
    shutil.copytree(results / "oracle", results / "broken")
    return results


def truncate(path: Path, keep: int = 60) -> None:
    path.write_bytes(path.read_bytes()[:keep])


def one_warning(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("warning: skipped run broken: ")
    return lines[0]


def listed(results: Path) -> list[str]:
    proc = vipbench("runs", "--results", str(results), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    return sorted(r["run_id"] for r in json.loads(proc.stdout))


def test_a_truncated_scores_json_is_one_line_naming_the_command_that_repairs_it(results):
    truncate(results / "broken" / "scores.json")
    for fmt in ("table", "csv", "json", "markdown"):
        proc = vipbench("runs", "--results", str(results), "--format", fmt)
        assert proc.returncode == 0 and "Traceback" not in proc.stderr
        line = one_warning(proc.stderr)
        assert "oracle" in proc.stdout and "blind" in proc.stdout and "broken" not in proc.stdout
    assert f"{results / 'broken' / 'scores.json'}: invalid scores file: invalid json" in line
    repair = f"vipbench judge broken --results {results}"
    assert line.endswith(f"; {repair} rewrites it from the run's grades")
    # The command it names does repair it.
    assert main(shlex.split(repair)[1:]) == 0
    proc = vipbench("runs", "--results", str(results), "--format", "json")
    assert proc.stderr == "" and sorted(r["run_id"] for r in json.loads(proc.stdout)) == ["blind", "broken", "oracle"]


def test_the_pandas_api_skips_a_broken_run_with_a_warning(results, capsys):
    truncate(results / "broken" / "scores.json")
    assert sorted(load_runs(results).run_id) == ["blind", "oracle"]
    one_warning(capsys.readouterr().err)
    assert set(load_scores(results).run_id) == {"blind", "oracle"}
    one_warning(capsys.readouterr().err)
    seen: list[str] = []
    assert sorted(load_runs(results, warn=seen.append).run_id) == ["blind", "oracle"]
    assert len(seen) == 1 and seen[0].startswith("skipped run broken: ") and capsys.readouterr().err == ""


def test_runs_show_of_a_broken_run_says_what_is_broken_in_one_line(results):
    truncate(results / "broken" / "scores.json")
    proc = vipbench("runs", "show", "broken", "--results", str(results))
    assert proc.returncode == 2 and proc.stdout.startswith("run broken · model oracle · ")  # what can be read
    (line,) = proc.stderr.splitlines()
    assert line.startswith(f"error: {results / 'broken' / 'scores.json'}: invalid scores file: ")
    assert line.endswith(f"vipbench judge broken --results {results} rewrites it from the run's grades")


@pytest.mark.parametrize("content", [None, '{"run_id": "broken"}'], ids=["truncated", "not-a-manifest"])
def test_a_broken_manifest_is_one_line_saying_what_can_be_done(results, content):
    manifest = results / "broken" / "manifest.json"
    truncate(manifest) if content is None else manifest.write_text(content)
    proc = vipbench("runs", "--results", str(results))
    assert proc.returncode == 0 and "oracle" in proc.stdout and "blind" in proc.stdout
    line = one_warning(proc.stderr)
    assert f"{manifest}: invalid manifest (" in line
    assert "without it the run cannot be listed, judged or resumed: restore it from a backup" in line
    assert f"or move the folder out of {results} and make the run again with vipbench run" in line
    proc = vipbench("runs", "show", "broken", "--results", str(results))
    assert proc.returncode == 2 and proc.stdout == ""
    (line,) = proc.stderr.splitlines()
    assert line.startswith(f"error: {manifest}: invalid manifest (")


def test_the_leaderboards_copy_of_a_manifest_is_named_kept_and_repairs_it(results):
    build_site(results)
    copy = results / "leaderboard" / "runs" / "broken" / "manifest.json"
    manifest = results / "broken" / "manifest.json"
    truncate(manifest)
    proc = vipbench("leaderboard", "build", "--results", str(results))
    assert proc.returncode == 0, proc.stderr
    line = one_warning(proc.stderr)
    assert line.endswith(f"; the leaderboard kept a copy: cp {copy} {manifest}")
    assert copy.is_file()  # the rebuild kept the broken run's copies
    subprocess.run(["cp", str(copy), str(manifest)], check=True)
    assert listed(results) == ["blind", "broken", "oracle"]


def test_the_leaderboard_builds_around_a_broken_run(results):
    truncate(results / "broken" / "scores.json")
    proc = vipbench("leaderboard", "build", "--results", str(results))
    assert proc.returncode == 0 and "leaderboard: " in proc.stdout
    line = one_warning(proc.stderr)
    assert line.endswith(f"vipbench judge broken --results {results} rewrites it from the run's grades")
    data = page_data(results / "leaderboard" / "index.html")
    (table,) = data["tables"]
    assert sorted(r["run"] for r in table["rows"] + table["apart_rows"]) == ["blind", "oracle"]
    assert sorted(r["id"] for r in data["runs"]) == ["blind", "oracle"]
    assert [s["run"] for s in data["skipped"]] == ["broken"] and "invalid scores file" in data["skipped"][0]["problem"]
    assert "run broken is not shown: " in (results / "leaderboard" / "index.html").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "name, repair",
    [
        ("predictions.jsonl", "delete that line, then vipbench run --resume broken --results {results} makes it again"),
        ("judgements.jsonl", "delete that line, then vipbench judge broken --results {results} grades it again"),
    ],
)
def test_a_bad_jsonl_line_skips_the_run_in_the_leaderboard(results, name, repair):
    path = results / "broken" / name
    path.write_text(path.read_text() + "garbage\n")
    lines = path.read_text().count("\n")
    proc = vipbench("leaderboard", "build", "--results", str(results))
    assert proc.returncode == 0, proc.stderr
    line = one_warning(proc.stderr)
    assert f"{path}: line {lines} is not a valid record: " in line and repair.format(results=results) in line


def test_every_run_broken_is_one_error_naming_one(results):
    for run_id in GOOD:
        shutil.rmtree(results / run_id)
    truncate(results / "broken" / "scores.json")
    with pytest.raises(VipbenchError, match=r"^no run in .* can be read: .*broken/scores.json: invalid scores file"):
        build_site(results)


def test_a_picture_that_does_not_decode_is_a_note_not_a_failure(results, tmp_path):
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + b"not a png" * 20)
    path = results / "broken" / "predictions.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines()]
    records[3]["image"] = str(corrupt)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    proc = vipbench("leaderboard", "build", "--results", str(results))
    assert proc.returncode == 0, proc.stderr
    (line,) = proc.stderr.splitlines()
    assert line.startswith("warning: 1 picture(s) could not be made, so their samples show a note instead")
    assert str(corrupt) in line
    out = results / "leaderboard"
    unit = next(u for u in page_data(out / "index.html")["units"] if u["run"] == "broken")
    samples = sample_file(out / unit["src"])["samples"]
    bad = next(s for s in samples if s["id"] == records[3]["sample_id"])
    assert bad["image"] is None and bad["image_note"].startswith(f"image not shown: cannot read image {corrupt}")
    shown = [s for s in samples if s is not bad]
    assert all(s["image"] and (out / s["image"]).is_file() and "image_note" not in s for s in shown)
    assert "could not be read or decoded at build time" in (out / "index.html").read_text(encoding="utf-8")
    if shutil.which(CHROMIUM) is None:
        pytest.skip(f"{CHROMIUM} is not installed")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:  # the sample browser shows the note where the picture would be
        browser = launch(p)
        page = browser.new_page()
        page.goto(f"{(out / 'index.html').as_uri()}#samples?unit={unit['key']}&sample={bad['id']}")
        page.wait_for_selector("#sample-detail .noimage")
        assert page.text_content("#sample-detail .noimage") == bad["image_note"]
        assert page.locator("#sample-list .noimage").count() == 1  # its thumbnail: "image not available"
        browser.close()


def page_data(index: Path) -> dict:
    html = index.read_text(encoding="utf-8")
    match = re.search(r'<script id="vipbench-data" type="application/json">(.*?)</script>', html, re.S)
    assert match
    return json.loads(match.group(1))


def sample_file(path: Path) -> dict:
    match = re.fullmatch(r"vipbenchSamples\((.*?),(.*)\);\n", path.read_text(encoding="utf-8"), re.S)
    assert match
    return json.loads(match.group(2))


def test_the_repair_of_a_judged_run_asks_the_endpoint_it_was_judged_at(tmp_path, vip_bench_dir):
    """scores.json truncated past reading as JSON, on a manifest that does not say where it was judged: the last
    grade in judgements.jsonl does, so the command the warning names judges it again there, asking nothing."""
    from judge_server import JudgeServer
    from test_judge import ANSWERS, judge, make_run

    run_dir = make_run(tmp_path, vip_bench_dir, ANSWERS)
    with JudgeServer() as server:
        assert judge(server, tmp_path, "--runs", "1") == 0
        asked = server.requests
        truncate(run_dir / "scores.json", keep=10)
        manifest = json.loads((run_dir / "manifest.json").read_text())
        manifest["judges"] = {}
        (run_dir / "manifest.json").write_text(json.dumps(manifest))
        proc = vipbench("runs", "--results", str(tmp_path))
        (line,) = proc.stderr.strip().splitlines()
        repair = f"vipbench judge r --results {tmp_path} --base-url {server.url} --runs 1"
        assert line.endswith(f"; {repair} rewrites it from the run's grades"), line
        assert main(shlex.split(repair)[1:]) == 0
        assert server.requests == asked  # every grade from judgements.jsonl
    assert json.loads((run_dir / "scores.json").read_text())["units"]
