"""Bad input gets one clear line on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

import json
import shutil

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
    assert_one_line_error(code, err, "llama checkpoint, not a VipLlava one")
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
