"""The wheel ships the declarative files (tasks/, judges/, leaderboard/) and works without the source tree."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    (path,) = out.glob("vipbench-*.whl")
    return path


def test_wheel_contains_task_judge_and_site_files(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in (
        "vipbench/_builtin/tasks/vip_bench/vip_bench_bbox.yaml",
        "vipbench/_builtin/tasks/vip_bench/_default.yaml",
        "vipbench/_builtin/tasks/vip_bench/hooks.py",
        "vipbench/_builtin/judges/vip-bench-mmvet.yaml",
        "vipbench/_builtin/judges/vip-bench-mmvet.jinja",
    ):
        assert required in names, required
    assert any(n.startswith("vipbench/_builtin/leaderboard/") for n in names)
    assert not any(n.startswith(("tests/", "results/")) for n in names)


def test_installed_wheel_finds_its_tasks_and_judges(wheel, tmp_path):
    target = tmp_path / "site"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    code = (
        "import vipbench, vipbench.resources as r\n"
        "from vipbench.tasks import TaskIndex\nfrom vipbench.scoring.judge.config import load_judge\n"
        "print(vipbench.__file__)\nprint(r.builtin_dir('tasks'))\n"
        "print(TaskIndex().resolve('vip-bench'))\nprint(load_judge('vip-bench-mmvet').model)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stderr
    module, tasks_dir, names, judge_model = proc.stdout.splitlines()
    assert module.startswith(str(target)) and tasks_dir.startswith(str(target))  # not the source checkout
    assert names == "['vip-bench-bbox', 'vip-bench-human']" and judge_model == "gpt-4-0613"
