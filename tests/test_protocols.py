"""Protocols (vipbench.protocols): the task YAML's per-family block is checked, the official one runs by default,
``--protocol vipbench`` and command-line overrides are recorded as deviations, and sampling is seeded per sample."""

from __future__ import annotations

import json

import pytest

from vipbench.errors import VipbenchError
from vipbench.examples import find_layout, write_example
from vipbench.planning import plan
from vipbench.records import RunSpec
from vipbench.taskconfig import config_from_yaml
from vipbench.tasks import TaskIndex


@pytest.fixture(scope="module")
def v7w_dir(tmp_path_factory) -> dict[str, str]:
    return {"v7w": str(write_example(find_layout("v7w", "vip-llava"), tmp_path_factory.mktemp("v7w") / "v7w"))}


def planned(data_dirs, **spec):
    (item,) = plan(RunSpec(tasks=["v7w"], data_dirs=data_dirs, **spec), TaskIndex(), warn=lambda m: None)
    return item


def test_the_official_protocol_is_the_default(v7w_dir):
    item = planned(v7w_dir, model="vip-llava-tiny")
    assert (item.generation.temperature, item.generation.max_new_tokens) == (0.2, 128)
    assert item.generation.conv_template == "llava_v1"
    provenance = item.provenance
    assert (provenance.protocol, provenance.family, provenance.deviations) == ("official", "llava", [])
    assert provenance.follows == (
        "WisconsinAIVision/ViP-LLaVA@77079b1 scripts/eval/v7w.sh (llava/eval/model_vqa_loader_vip.py)"
    )


def test_vipbench_protocol_and_overrides_are_named_deviations(v7w_dir):
    item = planned(v7w_dir, model="vip-llava-tiny", protocol="vipbench")
    assert item.generation.temperature == 0.0
    assert item.provenance.deviations == [
        "temperature=0.0 (official: 0.2)",
        "colours: in pool order, always 'the' (official: drawn as the family's script draws them)",
    ]
    item = planned(
        v7w_dir,
        model="vip-llava-tiny",
        generation={"max_new_tokens": 5, "seed": 3},
        model_options={"conv_template": "hf"},
    )
    assert item.provenance.deviations == [
        "conv_template='hf' (official: 'llava_v1')",
        "max_new_tokens=5 (official: 128)",
    ]  # the seed is no deviation: upstream seeds nothing


def test_a_model_without_a_family_runs_the_tasks_own_settings(v7w_dir):
    item = planned(v7w_dir, model="oracle")
    assert item.generation.temperature == 0.0
    assert (item.provenance.family, item.provenance.follows, item.provenance.deviations) == (None, None, [])


@pytest.mark.parametrize(
    "block,message",
    [
        ("protocols: {gpt: {follows: x}}", "unknown model family 'gpt'"),
        ("protocols: {llava: {follows: x, temp: 1}}", "unknown key(s) protocols.llava.temp"),
        ("protocols: {llava: {why: x}}", "missing key(s) protocols.llava.follows"),
        ("protocols: {osprey: {follows: x, references: some}}", "references must be all or first"),
        ("protocols: {llava: {follows: x, marker: red}}", "marker must be a mapping"),
        ("protocols: {llava: {follows: x, marker: {shape: box 1px, colour: red}}}", "unknown key(s) protocols.llava"),
    ],
)
def test_a_bad_protocol_block_is_one_line(tmp_path, block, message):
    path = tmp_path / "t.yaml"
    path.write_text(
        "task: t\ndataset: {key: t}\nloader: !function hooks.load\nscorer: {metric: exact_match}\n" + block + "\n"
    )
    with pytest.raises(VipbenchError, match=message.replace("(", r"\(").replace(")", r"\)")):
        config_from_yaml(path)


def test_every_task_protocol_names_known_settings():
    """Each family's settings are GenerationSettings fields (merged() refuses others) and name a script."""
    from vipbench.models.base import GenerationSettings

    index = TaskIndex()
    for name in index.resolve("all"):
        for family, config in index.task(name).config.protocols.items():
            GenerationSettings().merged(config.generation)
            assert config.follows, (name, family)


def test_a_scripts_marker_is_drawn_in_overlay_mode_only(tmp_path):
    """lmms-eval's RefCOCOg question names no region: its 1-px box on the pixels points at it. In coords mode the
    task's own question (with the box in text) runs instead, as a named deviation; the region is never lost."""
    dirs = {"refcocog": str(write_example(find_layout("refcocog", "hf"), tmp_path / "refcocog"))}
    spec = {"model": "llava-1.5-tiny", "tasks": ["refcocog-val"], "data_dirs": dirs}
    (overlay,) = plan(RunSpec(**spec), TaskIndex(), warn=lambda m: None)
    request = overlay.requests[0]
    assert request.text == "Provide a short description for this region."
    assert [(o.shape, o.color, o.alpha) for o in request.overlays] == [("box 1px", "red", 255)]
    assert overlay.provenance.deviations == []
    (coords,) = plan(RunSpec(**spec, region_mode="coords"), TaskIndex(), warn=lambda m: None)
    assert coords.requests[0].text.startswith("Provide a short description of the region [0.")
    assert coords.provenance.deviations == [
        "region mode coords: the task's own question (official: box 1px drawn, overlay)"
    ]


def test_sampling_is_seeded_per_sample(v7w_dir):
    pytest.importorskip("torch")
    from vipbench.models import create_model

    adapter = create_model("vip-llava-tiny", device="cpu")
    item = planned(v7w_dir, model="vip-llava-tiny")
    settings = item.generation.merged({"max_new_tokens": 4, "temperature": 1.0})
    requests = item.requests[:2]
    together = adapter.generate(requests, settings)
    alone = [adapter.generate([r], settings)[0] for r in reversed(requests)][::-1]
    assert [a.text for a in together] == [a.text for a in alone]
    seeds = [a.metadata["seed"] for a in together]
    assert seeds == [a.metadata["seed"] for a in alone] and len(set(seeds)) == 2
    other = adapter.generate(requests, settings.merged({"seed": 1}))
    assert [a.metadata["seed"] for a in other] != seeds


def test_the_run_manifest_records_the_protocol(tmp_path, v7w_dir):
    from vipbench.cli import main

    code = main(
        ["run", "--model", "oracle", "--tasks", "v7w", "--protocol", "vipbench", "--temperature", "0.5"]
        + ["--data-dir", f"v7w={v7w_dir['v7w']}", "--results", str(tmp_path), "--run-id", "r"]
    )
    assert code == 0
    manifest = json.loads((tmp_path / "r" / "manifest.json").read_text())
    assert manifest["spec"]["protocol"] == "vipbench"
    task = manifest["tasks"]["v7w"]
    assert task["protocol"] == "vipbench" and task["deviations"] == ["temperature=0.5 (official: 0.0)"]


def test_check_sees_a_protocol_difference(tmp_path, v7w_dir, capsys):
    from vipbench.cli import main

    base = ["run", "--model", "oracle", "--tasks", "v7w", "--data-dir", f"v7w={v7w_dir['v7w']}"]
    base += ["--results", str(tmp_path)]
    assert main([*base, "--run-id", "official"]) == 0
    assert main([*base, "--run-id", "longer", "--max-new-tokens", "64"]) == 0
    capsys.readouterr()
    assert main(["check", "longer", "--baseline", "official", "--results", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "v7w: deviations differs (baseline none, this run max_new_tokens=64 (official: 128))" in err


def test_the_vipbench_protocol_draws_colours_in_pool_order_and_says_so(v7w_dir):
    """Overlay colours and "the" are drawn as ViP-LLaVA's organizer draws them by default; --protocol vipbench draws
    the pool in order and records that rule."""
    official = planned(v7w_dir, model="vip-llava-tiny")
    vipbench = planned(v7w_dir, model="vip-llava-tiny", protocol="vipbench")
    assert official.provenance.rendering["colour_rule"] == "upstream"
    assert vipbench.provenance.rendering["colour_rule"] == "pool"
    assert not any(d.startswith("colours:") for d in official.provenance.deviations)
    pool = vipbench.requests[0].text
    assert "A. The object within the red rectangle\nB. The object within the lime rectangle" in pool
    assert pool != official.requests[0].text


def test_a_template_is_drawn_as_upstreams_dataset_draws_it():
    """``numpy.random.default_rng(seed).choice`` over the file's list (Shikra's MInstrDataset.get_template), from
    the sample's own seed: the same seed the same template, and every template reachable."""
    import numpy as np

    from vipbench.protocols import draw_template, sample_seed

    templates = [f"t{i} <question>" for i in range(7)]
    seeds = [sample_seed(0, "pope-random", str(i)) for i in range(200)]
    drawn = [draw_template(templates, s) for s in seeds]
    assert drawn == [templates[np.random.default_rng(s).integers(0, 7)] for s in seeds]
    assert set(drawn) == set(templates)


def test_a_template_is_filled_with_the_question_expression_and_region(tmp_path):
    from vipbench.protocols import ProtocolConfig, _templated
    from vipbench.types import Region, Sample

    config = ProtocolConfig(follows="x", template_file="perceptiongpt-vqa", drop_suffix="\nShort.")
    pope = Sample(id="1", image=None, question="Is it red?\nShort.", references=("yes",), template="Is it red?\nShort.")
    assert _templated(config, pope, ["Q: <question> in <image>"], 0).template == "Q: Is it red? in <image>"
    region = Region(box=(0, 0, 1, 1), label="obj")
    reg = Sample(id="2", image=None, question=None, references=("a", "b"), regions=(region,), template="Own <obj>.")
    first = ProtocolConfig(follows="x", template_file="perceptiongpt-reg", references="first")
    done = _templated(first, reg, ["Describe <objs> in <image>."], 0)
    assert (done.template, done.question, done.references) == ("Describe <obj> in <image>.", None, ("a",))


def test_a_task_file_adds_protocol_entries_over_its_base():
    """llava-bench-wild keeps _default.yaml's llava entry and sets its own for the families lmms-eval runs with
    llava_in_the_wild's 4096 tokens."""
    wild, coco = (TaskIndex().task(t).config.protocols for t in ("llava-bench-wild", "llava-bench-coco"))
    assert wild["llava"] == coco["llava"]
    assert (wild["omg-llava"].generation["max_new_tokens"], coco["omg-llava"].generation["max_new_tokens"]) == (
        4096,
        1024,
    )


@pytest.mark.parametrize(
    "task, name", [("refcoco-rec-val", "perceptiongpt-rec"), ("refcoco-res-val", "perceptiongpt-res")]
)
def test_perceptiongpt_rec_and_res_questions_are_drawn_from_its_template_files(task, name, monkeypatch, tmp_path):
    """Each sample's question is one of the pinned file's templates (upstream's REC.json / RES.json: "<image> ...
    <expr> ..."), drawn from the sample's own seed, the expression put in; without the file the protocol's fixed
    question runs, as a named deviation."""
    import dataclasses
    import hashlib

    from vipbench.examples.refcoco import write_refcoco
    from vipbench.protocols import TEMPLATE_FILES, TEMPLATES_ENV, draw_template, sample_seed

    templates = [f"<image> MADE-UP {i} <expr>?" for i in range(27)]
    data = json.dumps(templates).encode()
    pin = dataclasses.replace(TEMPLATE_FILES[name], sha256=hashlib.sha256(data).hexdigest())
    monkeypatch.setitem(TEMPLATE_FILES, name, pin)
    pin.cache_path().parent.mkdir(parents=True, exist_ok=True)
    pin.cache_path().write_bytes(data)
    dirs = {"refcoco": str(write_refcoco(tmp_path / "RefCOCO"))}
    spec = {"model": "perceptiongpt-tiny", "tasks": [task], "data_dirs": dirs}
    monkeypatch.delenv(TEMPLATES_ENV)
    (drawn,) = plan(RunSpec(**spec), TaskIndex(), warn=lambda m: None)
    assert drawn.provenance.deviations == []
    for request in drawn.requests:
        expected = draw_template(templates, sample_seed(0, task, request.sample.id))
        assert request.text == expected.replace("<expr>", request.sample.metadata["expression"])
    assert len({r.text.split("?")[0].split()[2] for r in drawn.requests}) > 1  # not always the same template
    monkeypatch.setenv(TEMPLATES_ENV, "vipbench")
    (fixed,) = plan(RunSpec(**spec), TaskIndex(), warn=lambda m: None)
    (deviation,) = fixed.provenance.deviations
    assert deviation.startswith("question=") and f"official: drawn per sample from {pin.label}" in deviation
