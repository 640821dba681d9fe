"""docs/ci-example.yml stays true: its vipbench steps run as written (the tiny checkpoint in place of the user's,
vip-synth in place of the task list) and gate as documented."""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import yaml

from vipbench.cli import main
from vipbench.records import RunSpec
from vipbench.runner import run

WORKFLOW = Path(__file__).resolve().parents[1] / "docs" / "ci-example.yml"


def vipbench_steps(workflow: dict) -> dict[str, str]:
    steps = workflow["jobs"]["vipbench"]["steps"]
    return {s["name"]: s["run"] for s in steps if s.get("run", "").startswith("vipbench ")}


def run_step(command: str, env: dict[str, str]) -> int:
    command = re.sub(r"\$\{\{ github\.sha \}\}", "abc123", command)
    argv = shlex.split(command)[1:]
    return main([re.sub(r"\$(\w+)", lambda m: env[m.group(1)], arg) for arg in argv])


def test_the_example_workflow_runs_and_gates(tmp_path, tiny_checkpoint, monkeypatch, capsys):
    workflow = yaml.safe_load(WORKFLOW.read_text())
    steps = vipbench_steps(workflow)
    assert list(steps) == ["Generate", "Grade", "Gate on the baseline"]
    env = {k: str(v).replace("${{ github.sha }}", "abc123") for k, v in workflow["env"].items()}
    assert env["MODEL"] == "vip-llava-7b" and env["TASKS"].split(",") == ["vip-synth", "pope-random"]
    env |= {"CHECKPOINT": str(tiny_checkpoint), "TASKS": "vip-synth", "LIMIT": "24"}
    monkeypatch.chdir(tmp_path)

    # The baseline: the same steps on the same checkpoint, committed as the header says.
    baseline_env = env | {"RUN": "baseline-run"}
    assert run_step(steps["Generate"], baseline_env) == 0 and run_step(steps["Grade"], baseline_env) == 0
    Path(env["BASELINE"]).parent.mkdir(parents=True)
    shutil.copy(Path("results/baseline-run/scores.json"), env["BASELINE"])

    for name in ("Generate", "Grade", "Gate on the baseline"):
        assert run_step(steps[name], env) == 0, name
    assert "no regression" in capsys.readouterr().out

    # A baseline the checkpoint cannot match (the oracle's 100) fails the gate.
    run(RunSpec(model="oracle", tasks=["vip-synth"], limit=24), results_dir=Path("results"), run_id="oracle")
    assert main(["judge", "oracle"]) == 0
    shutil.copy(Path("results/oracle/scores.json"), env["BASELINE"])
    capsys.readouterr()
    assert run_step(steps["Gate on the baseline"], env) == 1
    assert "regression(s)" in capsys.readouterr().out
