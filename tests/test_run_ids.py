"""A run made without ``--run-id`` is named after its model, whatever characters the model's name holds."""

from __future__ import annotations

from judge_server import JudgeServer

from vipbench.cli import main
from vipbench.runner import new_run_id
from vipbench.store import _RUN_ID, list_runs


def test_a_run_id_is_made_from_any_model_name():
    for model, tail in [
        ("openai:gpt-4o", "_openai-gpt-4o"),
        ("openai:llava-hf/llava-1.5-7b-hf", "_openai-llava-hf-llava-1.5-7b-hf"),
        ("vip-llava-7b", "_vip-llava-7b"),
        ("::", "_model"),
    ]:
        run_id = new_run_id(model)
        assert run_id.endswith(tail) and _RUN_ID.match(run_id), run_id


def test_an_api_model_runs_without_a_run_id(tmp_path):
    with JudgeServer(vision_answers={}) as server:
        args = ["run", "--model", "openai:acc-vlm", "--model-args", f"base_url={server.url}"]
        assert main([*args, "--tasks", "vip-synth", "--limit", "3", "--results", str(tmp_path)]) == 0
    (run,) = list_runs(tmp_path)
    assert run.run_id.endswith("_openai-acc-vlm") and len(run.predictions()) == 3
