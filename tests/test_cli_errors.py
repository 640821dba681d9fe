"""Bad input gets one clear line on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time

import pytest

from vipbench.cli import main


def run_cli(capsys, *args: str) -> tuple[int, str]:
    code = main(list(args))
    err = capsys.readouterr().err.strip()
    return code, err


def assert_one_line_error(code: int, err: str, *needles: str) -> None:
    assert code != 0
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.fixture()
def data(tmp_path, vip_bench_dir):
    copy = tmp_path / "data"
    shutil.copytree(vip_bench_dir, copy)
    return copy


def _run(capsys, tmp_path, *extra: str) -> tuple[int, str]:
    return run_cli(
        capsys,
        "run",
        "--model",
        "vip-llava-tiny",
        "--tasks",
        "vip-bench",
        "--results",
        str(tmp_path / "results"),
        *extra,
    )


def test_missing_data_folder(capsys, tmp_path):
    assert_one_line_error(
        *_run(capsys, tmp_path, "--data-dir", str(tmp_path / "nope")), "data folder for vip-bench not found", "nope"
    )


def test_missing_file_in_layout_names_the_file(capsys, tmp_path, data):
    (data / "bbox" / "questions.jsonl").unlink()
    assert_one_line_error(*_run(capsys, tmp_path, "--data-dir", str(data)), "bbox/questions.jsonl")


def test_malformed_jsonl_line_names_file_and_line(capsys, tmp_path, data):
    path = data / "human" / "questions.jsonl"
    lines = path.read_text().splitlines()
    lines[2] = '{"question_id": 2, "image": '
    path.write_text("\n".join(lines) + "\n")
    assert_one_line_error(*_run(capsys, tmp_path, "--data-dir", str(data)), "human/questions.jsonl:3", "malformed JSON")


def test_image_path_escaping_the_dataset_root(capsys, tmp_path, data):
    path = data / "bbox" / "questions.jsonl"
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    lines[1]["image"] = "../../../etc/passwd"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert_one_line_error(
        *_run(capsys, tmp_path, "--data-dir", str(data)), "escapes the dataset folder", "bbox/questions.jsonl:2"
    )


def test_missing_image(capsys, tmp_path, data):
    (data / "bbox" / "images" / "v1_5_0.png").unlink()
    assert_one_line_error(*_run(capsys, tmp_path, "--data-dir", str(data)), "image not found", "v1_5_0.png")


def test_unknown_task_and_model_suggest_close_names(capsys, tmp_path, vip_bench_dir):
    code, err = run_cli(
        capsys, "run", "--model", "vip-llava-tiny", "--tasks", "vip-bench-bboxx", "--data-dir", str(vip_bench_dir)
    )
    assert_one_line_error(code, err, "unknown task 'vip-bench-bboxx'", "Did you mean 'vip-bench-bbox'", "Known")
    code, err = run_cli(capsys, "run", "--model", "vip-lava-7b", "--tasks", "vip-bench")
    assert_one_line_error(code, err, "unknown model 'vip-lava-7b'", "Did you mean 'vip-llava-7b'", "vip-llava-13b")


def test_checkpoint_that_is_not_vipllava(capsys, tmp_path, vip_bench_dir):
    pytest.importorskip("transformers")
    llama = tmp_path / "llama"
    llama.mkdir()
    (llama / "config.json").write_text(json.dumps({"model_type": "llama"}))
    code, err = _run(capsys, tmp_path, "--data-dir", str(vip_bench_dir), "--model-path", str(llama))
    assert_one_line_error(code, err, "llama checkpoint, not a vipllava one")
    empty = tmp_path / "empty"
    empty.mkdir()
    code, err = _run(capsys, tmp_path, "--data-dir", str(vip_bench_dir), "--model-path", str(empty))
    assert_one_line_error(code, err, "not a Hugging Face checkpoint folder")
    assert not (tmp_path / "results").exists() or not any((tmp_path / "results").iterdir())  # no empty run left


def test_no_download_offline_gives_a_clear_hint(capsys, tmp_path):
    code, err = _run(capsys, tmp_path)  # no --data-dir, and HF_HUB_OFFLINE=1 in tests
    assert_one_line_error(code, err, "mucai/ViP-Bench", "--data-dir vip-bench=PATH")


def test_judge_without_runs(capsys, tmp_path):
    assert_one_line_error(*run_cli(capsys, "judge", "--results", str(tmp_path)), "no runs in")


def test_check_with_bad_sides(capsys, tmp_path):
    results = ["--results", str(tmp_path)]
    assert_one_line_error(*run_cli(capsys, "check", "nope", "--baseline", "nope", *results), "no runs yet")
    (tmp_path / "garbage.json").write_text("garbage")
    assert_one_line_error(
        *run_cli(capsys, "check", "x", "--baseline", str(tmp_path / "garbage.json"), *results),
        "is not a vipbench scores.json",
    )


# ------------------------------------------------------------------ the cases a new user hit (issue: trust)


def test_a_model_folder_holding_only_a_config(capsys, tmp_path, vip_bench_dir, tiny_checkpoint):
    folder = tmp_path / "config-only"
    folder.mkdir()
    shutil.copy(tiny_checkpoint / "config.json", folder / "config.json")
    code, err = _run(capsys, tmp_path, "--data-dir", str(vip_bench_dir), "--model-path", str(folder))
    assert_one_line_error(code, err, "cannot load the processor (tokenizer and image processor) from", "config-only")


def test_a_model_path_that_does_not_exist(capsys, tmp_path, vip_bench_dir):
    pytest.importorskip("torch")
    code, err = _run(capsys, tmp_path, "--data-dir", str(vip_bench_dir), "--model-path", str(tmp_path / "nope"))
    assert_one_line_error(code, err, "--model-path", "nope: folder not found")


def test_cuda_asked_on_a_machine_without_it(capsys, tmp_path, vip_bench_dir, tiny_checkpoint):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    args = ("--data-dir", str(vip_bench_dir), "--model-path", str(tiny_checkpoint))
    assert_one_line_error(*_run(capsys, tmp_path, *args, "--device", "cuda"), "--device cuda", "sees no CUDA GPU")
    assert_one_line_error(*_run(capsys, tmp_path, *args, "--device", "gpu0"), "unknown device 'gpu0'")


def _hub_unreachable(tmp_path, *args: str) -> tuple[subprocess.CompletedProcess, float]:
    """vipbench in a process whose Hub endpoint refuses connections and whose cache is empty."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
    env.update(HF_ENDPOINT=f"http://127.0.0.1:{port}", HF_HOME=str(tmp_path / "hf"))
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "vipbench", *args, "--results", str(tmp_path / "r")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    return proc, time.monotonic() - started


def test_missing_weights_with_no_network_fail_fast_with_the_model_path_hint(tmp_path):
    pytest.importorskip("torch")
    proc, elapsed = _hub_unreachable(tmp_path, "run", "--model", "vip-llava-7b", "--tasks", "vip-synth")
    assert proc.returncode == 2 and elapsed < 20 and "Traceback" not in proc.stderr
    (line,) = [x for x in proc.stderr.splitlines() if x.startswith("error:")]
    assert "cannot download the checkpoint 'llava-hf/vip-llava-7b-hf'" in line and "is unreachable" in line
    assert line.endswith("pass --model-path DIR")


def test_a_dataset_with_no_network_fails_fast_with_the_data_dir_hint(tmp_path):
    proc, elapsed = _hub_unreachable(tmp_path, "run", "--model", "oracle", "--tasks", "vip-bench-bbox")
    assert proc.returncode == 2 and elapsed < 20 and "Traceback" not in proc.stderr
    assert "is unreachable" in proc.stderr and "--data-dir vip-bench=PATH" in proc.stderr


@pytest.mark.parametrize(
    "value, needles",
    [
        ("foo=/tmp", ["--data-dir foo=...", "unknown dataset 'foo'", "vip-bench"]),
        ("vip-bench-bbox=/tmp", ["vip-bench-bbox is a task; the dataset it reads is 'vip-bench'"]),
        ("vip-bnch=/tmp", ["Did you mean 'vip-bench'"]),
    ],
)
def test_a_data_dir_key_that_no_chosen_task_reads(capsys, tmp_path, value, needles):
    code, err = run_cli(capsys, "run", "--model", "oracle", "--tasks", "vip-bench-bbox", "--data-dir", value)
    assert_one_line_error(code, err, *needles)


def test_a_data_dir_for_generated_data(capsys, tmp_path):
    code, err = run_cli(capsys, "run", "--model", "oracle", "--tasks", "vip-synth", "--data-dir", "vip-synth=/tmp")
    assert_one_line_error(code, err, "the vip-synth data is generated; it reads no folder")


def test_an_unwritable_results_folder(capsys, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, err = run_cli(capsys, "run", "--model", "oracle", "--tasks", "vip-synth", "--results", str(blocker / "x"))
    assert_one_line_error(code, err, "cannot create the run folder")


def test_judge_options_on_a_run_with_no_judged_task_say_so(capsys, tmp_path):
    results = str(tmp_path / "r")
    assert main(["run", "--model", "oracle", "--tasks", "vip-synth", "--limit", "3", "--results", results]) == 0
    capsys.readouterr()
    assert main(["judge", "--results", results, "--judge", "gpt-4o", "--runs", "3"]) == 0
    err = capsys.readouterr().err
    assert "warning: no task of this run is graded by an LLM judge; --judge, --runs changes nothing" in err
    code, err = run_cli(capsys, "judge", "--results", results, "--judge-template", str(tmp_path / "nope.jinja"))
    assert_one_line_error(code, err, "judge template not found", "nope.jinja")


def test_resuming_a_complete_run_says_so_before_loading_the_model(capsys, tmp_path, monkeypatch):
    import vipbench.runner

    results = str(tmp_path / "r")
    assert main(["run", "--model", "oracle", "--tasks", "vip-synth", "--limit", "3", "--results", results]) == 0
    capsys.readouterr()

    def no_model(*args, **kwargs):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(vipbench.runner, "create_model", no_model)
    assert main(["run", "--resume", "--results", results]) == 0
    assert "is complete: nothing is left to generate" in capsys.readouterr().err


def test_demo_with_another_limit_makes_its_runs_again(capsys, tmp_path, monkeypatch):
    import vipbench.cli.site

    monkeypatch.setattr(vipbench.cli.site, "DEMO_MODELS", ("oracle",))
    results = tmp_path / "r"
    assert main(["demo", "--results", str(results), "--limit", "3"]) == 0
    assert main(["demo", "--results", str(results), "--limit", "5"]) == 0
    assert "demo-oracle was made with --limit 3; making it again with --limit 5" in capsys.readouterr().err
    lines = (results / "demo-oracle" / "predictions.jsonl").read_text().splitlines()
    assert len(lines) == 5 and json.loads((results / "demo-oracle" / "manifest.json").read_text())["spec"]["limit"] == 5


def test_task_listing_fits_an_80_column_terminal(capsys):
    assert main(["tasks"]) == 0
    out = capsys.readouterr().out
    flat = " ".join(out.split())  # long lines wrap (tests/test_tables.py): a phrase may span two
    assert "…" not in out and "303 items" in flat and "mucai/ViP-Bench" in flat


# ------------------------------------------------------------------ options: never abbreviated, typos named


def parse_error(capsys, *args: str) -> str:
    """The one line an argument the parser refuses gets (exit 2)."""
    with pytest.raises(SystemExit) as stopped:
        main(list(args))
    assert stopped.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    return err


def test_an_abbreviated_option_is_not_taken_for_the_longer_one(capsys, tmp_path):
    results = ["--results", str(tmp_path)]
    err = parse_error(capsys, "run", "--task", "vip-synth", "--model", "oracle", "--limit", "1", *results)
    assert err == "error: unknown option --task; did you mean --tasks?"
    assert not tmp_path.exists() or not any(tmp_path.iterdir())  # nothing ran
    err = parse_error(capsys, "leaderboard", "build", "--ou", str(tmp_path / "site"), *results)  # a sub-subcommand
    assert err.startswith("error: unknown option --ou")


def test_no_parser_accepts_abbreviations():
    import argparse

    from vipbench.cli import build_parser

    def parsers(parser):
        yield parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for child in action.choices.values():
                    yield from parsers(child)

    every = list(parsers(build_parser()))
    assert len(every) > 10 and all(not p.allow_abbrev for p in every), [p.prog for p in every if p.allow_abbrev]


def test_a_mistyped_option_gets_the_closest_one(capsys):
    assert parse_error(capsys, "run", "--limt", "5") == "error: unknown option --limt; did you mean --limit?"
    assert parse_error(capsys, "run", "--modle=x") == "error: unknown option --modle; did you mean --model?"
    assert parse_error(capsys, "tasks", "--include-pth", "x") == (
        "error: unknown option --include-pth; did you mean --include-path?"
    )
    err = parse_error(capsys, "run", "--limt", "5", "--tsks", "x")
    assert "--limt (did you mean --limit?), --tsks (did you mean --tasks?)" in err
    assert parse_error(capsys, "run", "--zzzzzz") == "error: unknown option --zzzzzz; see: vipbench run --help"


def test_the_dtype_help_says_what_each_model_defaults_to():
    """The help's per-family defaults are the ones each adapter passes to resolve_device (bfloat16 when none)."""
    import inspect
    import re

    from vipbench.cli import build_parser
    from vipbench.models import MODELS

    families = {"vip-llava": "ViP-LLaVA", "llava-1.5": "LLaVA-1.5", "omg-llava": "OMG-LLaVA"}
    families |= {"osprey": "Osprey", "perceptiongpt": "PerceptionGPT"}
    run = next(a for a in build_parser()._actions if a.dest == "command").choices["run"]
    help_text = " ".join(next(a for a in run._actions if a.dest == "dtype").help.split())
    said = {
        name.strip(): dtype
        for dtype, names in re.findall(r"(b?float16) for ([^;]+)", help_text)
        for name in names.split(",")
    }
    assert "on a CPU: float32" in help_text
    checked = set()
    for entry in MODELS:
        cls = entry.load()
        if "dtype" not in inspect.signature(cls.__init__).parameters:
            continue
        init = next(c.__init__ for c in cls.__mro__ if "resolve_device(" in inspect.getsource(c.__init__))
        call = re.search(r"resolve_device\(device, dtype(?:, gpu_dtype=\"(\w+)\")?\)", inspect.getsource(init))
        family = next(label for prefix, label in families.items() if entry.name.startswith(prefix))
        assert said.get(family) == (call.group(1) or "bfloat16"), (entry.name, help_text)
        checked.add(family)
    assert checked == set(families.values())


def test_transformers_progress_bars_stay_out_of_a_run(capfd, tmp_path):
    """vipbench draws its own progress: no "Loading weights" (nor the tiny build's "Writing model shards") bar."""
    pytest.importorskip("torch")
    from transformers.utils import logging

    was = logging.is_progress_bar_enabled()
    args = ["run", "--model", "vip-llava-tiny", "--tasks", "vip-synth", "--limit", "1", "--results", str(tmp_path)]
    assert main(args) == 0
    out, err = capfd.readouterr()
    assert "vip-llava-tiny · vip-synth" in err  # vipbench's own bar
    for text in ("Loading weights", "Writing model shards", "it/s]"):
        assert text not in out + err, err
    assert logging.is_progress_bar_enabled() == was  # turned off only while the model loaded
