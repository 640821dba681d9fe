"""The scoring layer end to end: plugin metrics and scorers from installed packages, grading from the run's own
record, versioned grades, a task YAML that changed since the run, one judge per task, and model arguments."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest
from judge_server import JudgeServer
from PIL import Image
from scripted import use_script

from vipbench.cli import main
from vipbench.scoring.base import METRICS, PARSERS, SCORERS

TASK_YAML = """\
task: shout-task
dataset: {key: shout, generated: true}
loader: !function hooks.load
region_modes: [overlay]
scorer: {name: median, metric: shout, metric_args: {loud: true}}
breakdowns: [kind]
"""

HOOKS = """\
from pathlib import Path
from vipbench.types import Sample

def load(root, config):
    image = Path(__file__).with_name("img.png")
    kinds = ["a", "a", "b", "b", "b"]
    return [Sample(id=f"s{i}", image=image, question=f"q{i}", references=(f"R{i}",), metadata={"kind": k})
            for i, k in enumerate(kinds)]
"""


def install(site: Path, name: str, source: str, entry_points: str) -> None:
    """A distribution installed into ``site``: a module and a dist-info folder with its entry points."""
    (site / f"{name}.py").write_text(textwrap.dedent(source))
    dist = site / f"{name}-0.1.dist-info"
    dist.mkdir(parents=True, exist_ok=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(textwrap.dedent(entry_points))


def metric_source(version: int) -> str:
    return f"""
        from vipbench.scoring import metric

        CALLS = []

        @metric(version={version})
        def shout(record, loud=False):
            CALLS.append(record.sample_id)
            right = record.prediction == record.references[0]
            return {{"score": 10.0 if right else 0.0, "loud": loud}}
    """


METRIC_ENTRY = "[vipbench.metrics]\nshout = vbmetric:shout\n"

SCORER_SOURCE = """
    import statistics

    class Median:
        version = 1
        headline = "median"
        labels = {"median": "Median"}

        def score(self, items):
            return {"median": statistics.median(i.score * 10 for i in items) if items else None}
"""


@pytest.fixture()
def plugins(tmp_path, monkeypatch):
    """Two installed packages: one registers the metric ``shout``, the other the scorer ``median``."""
    site = tmp_path / "site"
    site.mkdir()
    install(site, "vbmetric", metric_source(1), METRIC_ENTRY)
    install(site, "vbscorer", SCORER_SOURCE, "[vipbench.scorers]\nmedian = vbscorer:Median\n")
    monkeypatch.syspath_prepend(str(site))
    reload_plugins()
    yield site
    for registry in (METRICS, SCORERS):
        registry._entries = {k: e for k, e in registry._entries.items() if e.origin == "builtin"}
    for module in ("vbmetric", "vbscorer"):
        sys.modules.pop(module, None)


def reload_plugins() -> None:
    """What a new process sees after a package changed: entry points read again, modules imported again."""
    for registry in (METRICS, SCORERS, PARSERS):
        registry._entries = {k: e for k, e in registry._entries.items() if e.origin == "builtin"}
        registry._plugins_loaded = False
    for module in ("vbmetric", "vbscorer"):
        sys.modules.pop(module, None)


@pytest.fixture()
def task_dir(tmp_path) -> Path:
    folder = tmp_path / "mytasks"
    folder.mkdir()
    (folder / "shout.yaml").write_text(TASK_YAML)
    (folder / "hooks.py").write_text(HOOKS)
    Image.new("RGB", (8, 8)).save(folder / "img.png")
    return folder


def scores(results: Path, run_id: str = "r") -> dict:
    return json.loads((results / run_id / "scores.json").read_text())


def grade_lines(results: Path, run_id: str = "r") -> list[dict]:
    return [json.loads(line) for line in (results / run_id / "judgements.jsonl").read_text().splitlines()]


def run_shout(results: Path, task_dir: Path, capsys) -> str:
    use_script({"s0": "R0", "s1": "R1", "s2": "R2", "s3": "no", "s4": "no"})
    args = ["run", "--model", "scripted", "--tasks", "shout-task", "--include-path", str(task_dir)]
    assert main([*args, "--results", str(results), "--run-id", "r"]) == 0
    return capsys.readouterr().out


def test_plugin_metric_and_scorer_score_an_include_path_task_as_the_run_ends(plugins, task_dir, tmp_path, capsys):
    results = tmp_path / "results"
    out = run_shout(results, task_dir, capsys)
    assert "Median" in out and "shout v1 (loud=True)" in out  # the score table, printed when the run ends
    unit = scores(results)["units"]["shout-task"]
    # grades 10, 10, 10, 0, 0 → median 10 × 10 = 100; kind a: (10, 10) → 100; kind b: (10, 0, 0) → 0
    assert unit["total"]["mean"] == 100.0 and unit["headline"] == "median"
    assert {k: v["mean"] for k, v in unit["breakdowns"]["kind"].items()} == {"b": 0.0, "a": 100.0}
    assert unit["scored_by"] == {
        **unit["scored_by"],
        "scorer": "median",
        "grader": "metric:shout",
        "grader_version": 1,
        "args": {"loud": True},
    }
    manifest = json.loads((results / "r" / "manifest.json").read_text())
    assert manifest["tasks"]["shout-task"]["scoring"]["metric"] == {
        "name": "shout",
        "version": 1,
        "args": {"loud": True},
    }
    assert grade_lines(results)[0]["values"] == {"score": 10.0, "loud": True}

    # Judged later without --include-path: the run's own record is enough, and nothing is graded again.
    import vbmetric

    vbmetric.CALLS.clear()
    assert main(["judge", "r", "--results", str(results)]) == 0
    assert vbmetric.CALLS == [] and len(grade_lines(results)) == 5
    assert scores(results)["units"]["shout-task"]["total"]["mean"] == 100.0


def test_a_metric_version_bump_grades_again_and_nothing_else_does(plugins, task_dir, tmp_path, capsys):
    results = tmp_path / "results"
    run_shout(results, task_dir, capsys)
    install(plugins, "vbmetric", metric_source(1).replace("10.0 if right", "5.0 if right"), METRIC_ENTRY)
    reload_plugins()
    assert main(["judge", "r", "--results", str(results)]) == 0  # changed code, same version: nothing new
    assert len(grade_lines(results)) == 5 and scores(results)["units"]["shout-task"]["total"]["mean"] == 100.0

    install(plugins, "vbmetric", metric_source(2).replace("10.0 if right", "5.0 if right"), METRIC_ENTRY)
    reload_plugins()
    assert main(["judge", "r", "--results", str(results)]) == 0
    err = capsys.readouterr().err
    assert "metric shout is version 2 now (the run recorded 1): shout-task is graded again" in err
    lines = grade_lines(results)
    assert len(lines) == 10 and {line["version"] for line in lines[5:]} == {2}
    unit = scores(results)["units"]["shout-task"]
    assert unit["total"]["mean"] == 50.0 and unit["scored_by"]["grader_version"] == 2


def test_a_task_yaml_changed_after_the_run_is_reported_and_used_only_when_asked(plugins, task_dir, tmp_path, capsys):
    results = tmp_path / "results"
    run_shout(results, task_dir, capsys)
    before = scores(results)["units"]["shout-task"]
    (task_dir / "shout.yaml").write_text(TASK_YAML.replace("name: median, ", "").replace("breakdowns: [kind]\n", ""))
    judge = ["judge", "r", "--results", str(results), "--include-path", str(task_dir)]
    assert main(judge) == 0
    err = capsys.readouterr().err
    assert "the scoring of shout-task changed since run r (name, breakdowns)" in err
    assert "--rescore-with-current-task" in err and len(err.strip().splitlines()) == 1
    assert scores(results)["units"]["shout-task"] == before  # the run's own record still rules

    assert main([*judge, "--rescore-with-current-task"]) == 0
    assert "scoring shout-task with its current task YAML" in capsys.readouterr().err
    unit = scores(results)["units"]["shout-task"]
    assert unit["headline"] == "mean" and unit["total"]["mean"] == 60.0 and unit["breakdowns"] == {}
    assert len(grade_lines(results)) == 5  # the same metric, version and arguments: no new grade


def test_an_unknown_plugin_name_is_one_line_with_the_closest_match(plugins, task_dir, tmp_path, capsys):
    (task_dir / "shout.yaml").write_text(TASK_YAML.replace("metric: shout", "metric: shuot"))
    args = ["run", "--model", "oracle", "--tasks", "shout-task", "--include-path", str(task_dir)]
    assert main([*args, "--results", str(tmp_path / "results")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: unknown metric 'shuot'. Did you mean 'shout'?") and len(err.splitlines()) == 1
    assert not (tmp_path / "results").exists() or not any((tmp_path / "results").iterdir())  # before any run


def test_each_task_is_graded_by_its_own_judge_and_judge_overrides_them_all(tmp_path, vip_bench_dir, task_dir):
    """One run holding two judge-scored tasks whose YAML names different judge models."""
    (task_dir / "shout.yaml").write_text(
        TASK_YAML.replace(
            "scorer: {name: median, metric: shout, metric_args: {loud: true}}",
            "scorer: {judge: vip-bench-mmvet, judge_model: other-judge-1, runs: 2}",
        )
    )
    use_script({"v1_5": "stop", "s0": "R0", "s1": "wrong"})
    results = tmp_path / "results"
    data = ["--data-dir", f"vip-bench={vip_bench_dir}", "--include-path", str(task_dir)]
    args = ["run", "--model", "scripted", "--tasks", "vip-bench-bbox,shout-task", *data, "--limit", "2"]
    assert main([*args, "--results", str(results), "--run-id", "r"]) == 0
    with JudgeServer() as server:
        assert main(["judge", "r", "--results", str(results), "--base-url", server.url, "--backoff", "0.01"]) == 0
        models = [b["model"] for b in server.bodies]
    assert models.count("gpt-4-0613") == 2 * 5 and models.count("other-judge-1") == 2 * 2
    units = scores(results)["units"]
    assert units["vip-bench-bbox"]["scored_by"]["judge_model"] == "gpt-4-0613"
    assert units["shout-task"]["scored_by"]["judge_model"] == "other-judge-1"
    assert units["shout-task"]["scored_by"]["reported_models"] == ["other-judge-1-loopback"]
    assert units["shout-task"]["total"]["mean"] == 50.0  # R0 right, "wrong" wrong, in both runs

    with JudgeServer() as server:
        judge = ["judge", "r", "--results", str(results), "--base-url", server.url, "--judge", "one-judge"]
        assert main([*judge, "--runs", "1"]) == 0
        assert {b["model"] for b in server.bodies} == {"one-judge"} and server.requests == 2 + 2
    assert {u["scored_by"]["judge_model"] for u in scores(results)["units"].values()} == {"one-judge"}


def test_model_args_are_checked_against_the_adapter(tmp_path, capsys):
    results = ["--results", str(tmp_path / "results"), "--tasks", "vip-synth", "--limit", "1"]
    assert main(["run", "--model", "vip-llava-7b", "--model-args", "dtpye=float16", *results]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        "error: model 'vip-llava-7b' has no argument 'dtpye'; it takes model_path, device, dtype, conv_template, "
        "image_preprocess, kv_cache"
    )
    assert main(["run", "--model", "oracle", "--model-path", "/tmp/x", *results]) == 2
    assert "error: model 'oracle' has no argument 'model_path'; it takes none" in capsys.readouterr().err
    assert main(["run", "--model", "oracle", "--device", "cuda", *results]) == 2
    assert "model 'oracle' has no argument 'device'" in capsys.readouterr().err
    assert main(["run", "--model", "vip-llava-7b", "--model-args", "dtype", *results]) == 2
    assert "--model-args: expected key=value, got 'dtype'" in capsys.readouterr().err


def test_model_args_reach_the_adapter_with_their_declared_types(tmp_path, tiny_checkpoint):
    results = tmp_path / "results"
    args = ["run", "--model", "vip-llava-7b", "--tasks", "vip-synth", "--limit", "2", "--max-new-tokens", "2"]
    model_args = f"model_path={tiny_checkpoint},conv_template=hf,dtype=float32"
    assert main([*args, "--model-args", model_args, "--results", str(results), "--run-id", "m"]) == 0
    manifest = json.loads((results / "m" / "manifest.json").read_text())
    assert manifest["model"]["conv_template"] == "hf" and manifest["spec"]["model_options"]["conv_template"] == "hf"
