"""Reproducibility fingerprints: what a run's manifest and predictions record of how they were made."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from judge_server import JudgeServer
from test_judge import ANSWERS, make_run

from vipbench.cli import main
from vipbench.records import RunSpec, stable_hash
from vipbench.runner import run
from vipbench.store import RunStore

HEX64 = re.compile(r"^[0-9a-f]{64}$")


def tiny_run(results: Path, data: Path, checkpoint: Path, task: str = "vip-bench-bbox", run_id: str = "tiny"):
    spec = RunSpec(
        model="vip-llava-7b",
        tasks=[task],
        limit=3,
        data_dirs={"vip-bench": str(data)},
        model_options={"model_path": str(checkpoint)},
        generation={"max_new_tokens": 2},
    )
    return run(spec, results_dir=results, run_id=run_id, device="cpu", warn=lambda m: None)


def test_the_manifest_fingerprints_the_code_the_data_the_prompts_and_the_model(
    tmp_path, vip_bench_dir, tiny_checkpoint
):
    store = tiny_run(tmp_path, vip_bench_dir, tiny_checkpoint)
    manifest = store.manifest()
    env = manifest.environment
    assert re.match(r"^[0-9a-f]{40}$", env["git"]["commit"]) and isinstance(env["git"]["dirty"], bool)
    assert env["packages"]["torch"] and env["packages"]["transformers"] and env["packages"]["pillow"]

    task = manifest.tasks["vip-bench-bbox"]
    assert task.source == f"local:{vip_bench_dir}"  # an HF dataset records hf:<repo>@<commit>
    for fingerprint in (task.dataset_hash, task.image_hash, task.prompt_hash, task.target_hash, task.task_hash):
        assert HEX64.match(fingerprint)
    assert task.generation["max_new_tokens"] == 2 and task.generation["temperature"] == 0.0

    predictions = store.predictions()
    # The task hash is the per-sample prompt and target hashes of predictions.jsonl, rolled up in order.
    assert task.task_hash == stable_hash([[p.sample_id, p.prompt_hash, p.target_hash] for p in predictions])

    model = manifest.model
    assert model["chat_template"].count("{question}") == 1 and HEX64.match(model["chat_template_hash"])
    for p in predictions:  # the exact input: the question inside the conversation template, and its token ids
        assert p.model_input == model["chat_template"].format(question=p.prompt)
        assert HEX64.match(p.input_ids_hash)
    assert len({p.input_ids_hash for p in predictions}) == len({p.prompt for p in predictions})


def test_image_content_is_fingerprinted_not_just_image_names(tmp_path, vip_bench_dir, tiny_checkpoint):
    first = tiny_run(tmp_path / "a", vip_bench_dir, tiny_checkpoint).manifest().tasks["vip-bench-bbox"]
    changed = tmp_path / "data" / "ViP-Bench"
    shutil.copytree(vip_bench_dir, changed)
    image = changed / "bbox" / "images" / "v1_0_0.png"
    data = bytearray(image.read_bytes())
    data[-1] ^= 0xFF  # one byte of one image
    image.write_bytes(bytes(data))
    second = tiny_run(tmp_path / "b", changed, tiny_checkpoint).manifest().tasks["vip-bench-bbox"]
    assert second.dataset_hash == first.dataset_hash  # ids, questions, references and names are the same ...
    assert second.image_hash != first.image_hash  # ... the pixels are not


def test_drawn_prompts_record_how_they_are_rendered(tmp_path):
    spec = RunSpec(model="oracle", tasks=["vip-synth"], limit=16)
    manifest = run(spec, results_dir=tmp_path, run_id="o", warn=lambda m: None).manifest()
    rendering = manifest.tasks["vip-synth"].rendering
    assert rendering["renderer"] >= 1 and rendering["anchor"] == 336 and rendering["alphas"] == [128]
    assert rendering["shapes"] and rendering["prompts"] >= 16 and "seed" in rendering["seeds"]


def test_scores_record_the_judge_as_the_api_reported_it_and_the_manifest_is_left_alone(tmp_path, vip_bench_dir):
    run_dir = make_run(tmp_path, vip_bench_dir, ANSWERS)
    manifest = (run_dir / "manifest.json").read_bytes()
    with JudgeServer(reported_model="gpt-4-0613-reported") as server:
        assert main(["judge", "r", "--results", str(tmp_path), "--base-url", server.url, "--runs", "1"]) == 0
    assert (run_dir / "manifest.json").read_bytes() == manifest  # the file of an earlier stage
    judge = json.loads((run_dir / "scores.json").read_text())["units"]["vip-bench-bbox"]["scored_by"]
    assert judge["judge_model"] == "gpt-4-0613"
    assert judge["reported_models"] == ["gpt-4-0613-reported"]
    assert HEX64.match(judge["template_hash"])


def test_a_run_made_before_a_fingerprint_existed_still_resumes(tmp_path):
    spec = RunSpec(model="oracle", tasks=["vip-synth"], limit=8)
    store = run(spec, results_dir=tmp_path, run_id="old", warn=lambda m: None)
    manifest = json.loads(store.manifest_path.read_text())
    for name in ("image_hash", "target_hash", "task_hash", "rendering"):
        manifest["tasks"]["vip-synth"].pop(name)
    manifest["status"] = "interrupted"
    store.manifest_path.write_text(json.dumps(manifest))
    (store.path / "predictions.jsonl").write_text("")
    resumed = run(None, results_dir=tmp_path, resume="old", warn=lambda m: None)
    assert RunStore(resumed.path).manifest().status == "complete" and len(resumed.predictions()) == 8
