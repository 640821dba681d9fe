"""Third-party tasks, models and judges plug in through entry points, with no fork of vipbench."""

from __future__ import annotations

import json
import sys
import textwrap

import pytest

from vipbench.cli import main
from vipbench.models import MODELS


@pytest.fixture()
def plugin(tmp_path, monkeypatch):
    """An installed distribution (a dist-info folder on sys.path) that registers one of each."""
    package = tmp_path / "site"
    (package / "tasks_dir").mkdir(parents=True)
    (package / "judges_dir").mkdir()
    (package / "myplugin.py").write_text(
        textwrap.dedent(f"""
        from vipbench.models.base import ModelAdapter
        TASKS = {str(package / "tasks_dir")!r}
        JUDGES = {str(package / "judges_dir")!r}

        class EchoAdapter(ModelAdapter):
            region_modes = ("overlay",)
            def __init__(self, **options):
                pass
            def generate(self, requests, settings):
                return [r.text.upper() for r in requests]
    """)
    )
    (package / "tasks_dir" / "echo.yaml").write_text(
        "task: echo-task\ndataset: {key: echo, generated: true}\nloader: !function hooks.load\n"
        "scorer: {metric: exact_match}\n"
    )
    (package / "tasks_dir" / "hooks.py").write_text(
        textwrap.dedent("""
        from vipbench.types import Sample
        def load(root, config):
            return [Sample(id=f"s{i}", image=None, question=None, references=(f"Q{i}",), template=f"q{i} <obj>",
                           source_image=None) for i in range(3)]
    """)
    )
    (package / "judges_dir" / "strict.yaml").write_text(
        "judge: strict-judge\ntemplate: t.jinja\nmodel: some-model\nparser: first-number\n"
    )
    (package / "judges_dir" / "t.jinja").write_text("{{ prediction }}")
    dist = package / "myplugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: myplugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[vipbench.models]\necho = myplugin:EchoAdapter\n\n[vipbench.tasks]\nechotasks = myplugin:TASKS\n\n"
        "[vipbench.judges]\nstrict = myplugin:JUDGES\n"
    )
    monkeypatch.syspath_prepend(str(package))
    monkeypatch.setattr(MODELS, "_plugins_loaded", False)
    yield
    MODELS._entries.pop("echo", None)
    sys.modules.pop("myplugin", None)


def test_entry_points_add_a_model_a_task_and_a_judge(plugin, tmp_path, capsys):
    assert main(["models"]) == 0 and "echo" in capsys.readouterr().out
    assert main(["tasks"]) == 0 and "echo-task" in capsys.readouterr().out
    from vipbench.scoring.judge.config import load_judge

    assert load_judge("strict-judge").model == "some-model"


def test_a_plugin_task_runs_through_the_pipeline(tmp_path):
    """--include-path gives the same without packaging: a task folder on disk."""
    folder = tmp_path / "mytasks"
    folder.mkdir()
    (folder / "t.yaml").write_text(
        "task: local-task\ndataset: {key: local, generated: true}\nloader: !function hooks.load\n"
        "scorer: {metric: exact_match}\nregion_modes: [overlay]\n"
    )
    (folder / "hooks.py").write_text(
        "from pathlib import Path\nfrom vipbench.types import Sample\n"
        "def load(root, config):\n"
        f"    img = Path({str(tmp_path / 'img.png')!r})\n"
        "    return [Sample(id='a', image=img, question='Q?', references=('Q?',))]\n"
    )
    from PIL import Image

    Image.new("RGB", (8, 8)).save(tmp_path / "img.png")
    results = tmp_path / "results"
    assert (
        main(
            [
                "run",
                "--model",
                "oracle",
                "--tasks",
                "local-task",
                "--include-path",
                str(folder),
                "--results",
                str(results),
                "--run-id",
                "p",
            ]
        )
        == 0
    )
    assert main(["judge", "p", "--results", str(results), "--include-path", str(folder)]) == 0
    scores = json.loads((results / "p" / "scores.json").read_text())
    assert scores["units"]["local-task"]["total"]["mean"] == 100.0
