"""Task YAML, discovery and groups, and the ViP-Bench loader on data in the official layout."""

from __future__ import annotations

import pytest

from vipbench.errors import UnknownNameError, VipbenchError
from vipbench.imaging import load_rgb
from vipbench.taskconfig import FunctionRef, GroupConfig, config_from_yaml
from vipbench.tasks import TaskIndex


def test_groups_resolve_to_tasks_in_order_without_duplicates():
    index = TaskIndex()
    assert index.resolve("vip-bench") == ["vip-bench-bbox", "vip-bench-human"]
    assert index.resolve("vip-bench-human,vip-bench") == ["vip-bench-human", "vip-bench-bbox"]
    assert index.resolve("vip_bench_bbox") == ["vip-bench-bbox"]  # underscores are accepted
    assert set(index.resolve("all")) >= {"vip-bench-bbox", "vip-bench-human"}


def test_unknown_task_lists_known_names_and_suggests_the_closest():
    with pytest.raises(UnknownNameError) as err:
        TaskIndex().resolve("vip-bnech")
    message = str(err.value)
    assert "Did you mean 'vip-bench'" in message
    assert "vip-bench-bbox" in message and "all" in message


def test_yaml_include_and_function_hooks(tmp_path):
    (tmp_path / "_base.yaml").write_text("loader: !function hooks.load\nscorer: {metric: exact_match}\nversion: 3\n")
    (tmp_path / "t.yaml").write_text(
        "task: my-task\ninclude: _base.yaml\ndataset: {key: mine, options: {split: x}}\nversion: 4\n"
    )
    (tmp_path / "hooks.py").write_text(
        "def load(root, config):\n    return ['loaded', config.dataset.options['split']]\n"
    )
    config = config_from_yaml(tmp_path / "t.yaml")
    assert config.version == 4  # the including file wins
    assert isinstance(config.loader, FunctionRef)
    assert config.loader(None, config) == ["loaded", "x"]
    assert TaskIndex([tmp_path]).resolve("my-task") == ["my-task"]  # --include-path


def test_unknown_yaml_key_is_reported(tmp_path):
    (tmp_path / "t.yaml").write_text(
        "task: t\ndataset: {key: k}\nloader: !function hooks.f\nscorer: {metric: exact_match}\nscorrer: oops\n"
    )
    with pytest.raises(VipbenchError, match="unknown key.*scorrer"):
        config_from_yaml(tmp_path / "t.yaml")


def test_vip_bench_loader_reads_the_official_layout(vip_bench_dir):
    samples = {s.id: s for s in TaskIndex().task("vip-bench-human").load_samples(vip_bench_dir)}
    assert len(samples) == 8
    s0 = samples["v1_0"]
    assert s0.references == ("0.75<OR>x=0.75<OR>3/4",)  # <AND>/<OR> kept verbatim
    assert s0.metadata["capability"] == ["ocr", "math"]  # multi-label, read from the data
    assert s0.question.endswith("pointed to by the blue arrow?")  # the split's own text
    assert s0.template == "What is the value of x in the equation <obj>?"
    assert s0.regions[0].box == (64.0, 96.0, 256.0, 288.0)  # LabelMe rectangle
    assert len(samples["v1_1"].regions[0].polygons[0]) == 4  # LabelMe polygon
    assert [r.label for r in samples["v1_3"].regions] == ["obj1", "obj2"]
    assert "日本語" in samples["v1_4"].question and "☕" in samples["v1_4"].references[0]
    for sample in samples.values():  # RGB, RGBA and palette PNGs all load as RGB
        assert load_rgb(sample.image).mode == "RGB"


def test_a_nested_key_no_field_knows_is_an_error_not_an_option(tmp_path):
    (tmp_path / "t.yaml").write_text(
        "task: t\ndataset: {key: k, split: x}\nloader: !function hooks.f\nscorer: {metric: exact_match}\n"
    )
    with pytest.raises(VipbenchError, match=r"unknown key\(s\) dataset.split; allowed: .*dataset.options"):
        config_from_yaml(tmp_path / "t.yaml")
    (tmp_path / "t.yaml").write_text(
        "task: t\ndataset: {key: k}\nloader: !function hooks.f\nscorer: {metric: exact_match, metirc_args: {}}\n"
    )
    with pytest.raises(VipbenchError, match=r"unknown key\(s\) scorer.metirc_args"):
        config_from_yaml(tmp_path / "t.yaml")


def test_a_group_yaml_names_its_tasks_and_its_scorer(tmp_path):
    (tmp_path / "g.yaml").write_text("group: both\ntasks: [vip-bench-bbox, vip-bench-human]\nscorer: joint\n")
    config = config_from_yaml(tmp_path / "g.yaml")
    assert isinstance(config, GroupConfig) and config.scorer == "joint"
    assert TaskIndex([tmp_path]).resolve("both") == ["vip-bench-bbox", "vip-bench-human"]
    (tmp_path / "g.yaml").write_text("group: both\ntasks: [vip-bench-bbox, vip-bench-hum]\n")
    with pytest.raises(VipbenchError, match="g.yaml: unknown task 'vip-bench-hum'. Did you mean 'vip-bench-human'"):
        TaskIndex([tmp_path])
