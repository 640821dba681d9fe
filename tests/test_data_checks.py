"""Data is checked when it loads, before any model: a malformed JSON line gives json's whole reason, an image that
is missing or does not decode is one line naming the file, and every missing dataset is named in one error."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
from PIL import Image

from vipbench import runner
from vipbench.cli import main
from vipbench.errors import DataError
from vipbench.examples.region_tasks import write_vcr_official
from vipbench.tasks import TaskIndex


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture()
def data(tmp_path, vip_bench_dir) -> Path:
    copy = tmp_path / "data"
    shutil.copytree(vip_bench_dir, copy)
    return copy


@pytest.fixture()
def no_model(monkeypatch):
    """Fail the test if a model is created: data errors must come first."""

    def create_model(*args, **kwargs):
        raise AssertionError("a model was loaded before the data was checked")

    monkeypatch.setattr(runner, "create_model", create_model)


def run(capsys, tmp_path, *args: str) -> tuple[int, str]:
    code = main(["run", "--model", "oracle", "--results", str(tmp_path / "results"), *args])
    return code, one_error_line(capsys) if code else ""


# ------------------------------------------------------------------------------------------------ JSON


def test_a_malformed_jsonl_line_gives_json_full_reason(capsys, tmp_path, data, no_model):
    path = data / "bbox" / "questions.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[2] = '{"question_id": 2, "image": "v1_2_0.png", "text": "a\tb"}'  # a raw tab inside a string
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, line = run(capsys, tmp_path, "--tasks", "vip-bench-bbox", "--data-dir", str(data))
    assert code == 2
    column = lines[2].index("\t") + 1
    assert f"{path}:3: malformed JSON line (Invalid control character at: line 3 column {column})" in line


def test_a_malformed_json_file_gives_line_and_column(capsys, tmp_path, data, no_model):
    meta = data / "vip-bench-meta-data.json"
    meta.write_text('{\n  "v1_0": {"answer": "x",}\n}\n')  # column 26: the "}" after a trailing comma
    code, line = run(capsys, tmp_path, "--tasks", "vip-bench-bbox", "--data-dir", str(data))
    assert code == 2
    assert f"{meta}:2: invalid JSON (Expecting property name enclosed in double quotes: line 2 column 26)" in line


def test_a_line_that_is_not_utf8_is_named_by_file_and_line(capsys, tmp_path, data, no_model):
    path = data / "human" / "questions.jsonl"
    raw = path.read_bytes().splitlines(keepends=True)
    raw[4] = raw[4].replace(b"text", b"t\xe9xt")  # Latin-1, not UTF-8
    path.write_bytes(b"".join(raw))
    code, line = run(capsys, tmp_path, "--tasks", "vip-bench-human", "--data-dir", str(data))
    assert code == 2 and f"{path}:5: not UTF-8 text (invalid continuation byte: byte 0xe9)" in line


# ------------------------------------------------------------------------------------------------ images


def _truncated(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _garbage(path: Path) -> None:
    path.write_bytes(b"<html>404 Not Found</html>")


def _flipped(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "name, damage, reason",
    [
        ("bbox/images/v1_3_0.png", _truncated, "corrupt image"),  # an interrupted download
        ("bbox/images/v1_3_0.png", _flipped, "corrupt image"),  # a flipped byte: the PNG's CRC
        ("bbox/images/v1_3_0.png", _garbage, "not an image file PIL can read"),  # an error page saved as .png
        ("source_image/v1_2.jpg", _truncated, "corrupt image"),  # a JPEG cut short: its end marker is gone
        ("source_image/v1_2.jpg", lambda p: p.write_bytes(b""), "not an image file PIL can read"),
    ],
    ids=["png-truncated", "png-flipped-byte", "png-not-an-image", "jpeg-truncated", "jpeg-empty"],
)
def test_a_corrupt_image_is_found_when_the_data_loads(capsys, tmp_path, data, no_model, name, damage, reason):
    damage(data / name)
    code, line = run(capsys, tmp_path, "--tasks", "vip-bench-bbox", "--data-dir", str(data))
    sample = Path(name).stem.split("_")[1]  # v1_3_0.png → 3, v1_2.jpg → 2
    assert code == 2
    assert f"task vip-bench-bbox, sample v1_{sample}: {reason}" in line and str(data / name) in line
    assert not (tmp_path / "results").exists() or not any((tmp_path / "results").iterdir())  # no run was started


def test_an_image_a_plugin_loader_never_opened_is_checked_too(tmp_path, capsys, no_model):
    (tmp_path / "mine.yaml").write_text(
        "task: mine\ndataset: {key: mine, generated: true}\nloader: !function hooks.load\n"
        "scorer: {metric: exact_match}\nregion_modes: [overlay]\n"
    )
    (tmp_path / "hooks.py").write_text(
        "from pathlib import Path\nfrom vipbench.types import Sample\n\n"
        "def load(root, config):\n"
        "    image = Path(__file__).with_name('photo.jpg')\n"
        "    return [Sample(id='s1', image=image, question='What?', references=('x',))]\n"
    )
    code, line = run(capsys, tmp_path, "--tasks", "mine", "--include-path", str(tmp_path))
    assert code == 2 and line == f"error: task mine, sample s1: image not found: {tmp_path / 'photo.jpg'}"


def test_a_whole_jpeg_with_bytes_after_its_end_marker_loads(tmp_path):
    root = write_vcr_official(tmp_path / "vcr")
    frame = next((root / "vcr1images").rglob("*.jpg"))
    frame.write_bytes(frame.read_bytes() + b"\x00" * 16)  # padding some encoders leave: decoded, found whole
    assert len(TaskIndex().task("vcr-qa").load_samples(root)) == 2
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 10, 10)).save(out, format="BMP")
    frame.write_bytes(out.getvalue()[:-100])  # another format, cut short: decoded whole, so refused
    with pytest.raises(DataError, match="corrupt image"):
        TaskIndex().task("vcr-qa").load_samples(root)


# ------------------------------------------------------------------------------------------------ missing datasets


def test_tasks_all_names_every_missing_dataset_in_one_error(capsys, tmp_path, no_model):
    vcr = write_vcr_official(tmp_path / "vcr")
    code, line = run(capsys, tmp_path, "--tasks", "all", "--data-dir", f"vcr={vcr}", "--data-dir", "v7w=/no/such")
    assert code == 2  # HF_HUB_OFFLINE=1 in the tests, with an empty cache
    assert "9 datasets are missing, so nothing was run; give each one's folder with --data-dir KEY=PATH" in line
    assert "llava-bench-coco, pointqa: no download exists" in line
    for key, hf_id in [
        ("llava-bench-wild", "liuhaotian/llava-bench-in-the-wild"),
        ("pope", "lmms-lab/POPE"),
        ("refcoco", "lmms-lab/RefCOCO"),
        ("refcocoplus", "lmms-lab/RefCOCOplus"),
        ("refcocog", "lmms-lab/RefCOCOg"),
        ("vip-bench", "mucai/ViP-Bench"),
    ]:
        assert f"{key} (or HF {hf_id})" in line
    assert "not in the local Hugging Face cache and HF_HUB_OFFLINE is set" in line
    assert "v7w: --data-dir v7w=/no/such is not a folder" in line
    assert "vcr" not in line.replace("vcr=", "")  # given, so not missing


def test_one_missing_dataset_keeps_its_own_message(capsys, tmp_path, no_model):
    code, line = run(capsys, tmp_path, "--tasks", "vcr-qa,vcr-qar")
    assert code == 2 and line == "error: the vcr dataset cannot be downloaded; pass --data-dir vcr=PATH"


def test_export_lmms_names_every_missing_dataset_in_one_error(capsys, tmp_path):
    from vipbench.cli import main

    args = ["export-lmms", str(tmp_path / "out"), "--tasks", "pope-random,refcocog-val,vip-bench-bbox"]
    assert main([*args, "--data-dir", "pope=/no/such"]) == 2  # HF_HUB_OFFLINE=1 in the tests, with an empty cache
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("error: 3 datasets are missing, so nothing was run; give each one's folder with")
    assert all(key in line for key in ("pope", "refcocog", "vip-bench"))
    assert not (tmp_path / "out").exists()  # nothing written


def test_two_parquet_folders_of_one_name_are_each_read_as_themselves(tmp_path):
    """datasets keys its cache of a local folder by the folder's name: the RLE copy of RefCOCO, read after the
    polygon one of the same name, came back as the polygon one (the files' fingerprint is now part of the key)."""
    from vipbench.examples.refcoco import write_refcoco, write_refcoco_rle

    task = TaskIndex().task("refcoco-res-val")
    polygons = task.load_samples(write_refcoco(tmp_path / "a" / "RefCOCO"))
    rles = task.load_samples(write_refcoco_rle(tmp_path / "b" / "RefCOCO"))
    assert polygons[0].metadata["image_size"] == [400, 400] and isinstance(polygons[0].metadata["segmentation"], list)
    assert rles[0].metadata["image_size"] == [480, 320] and isinstance(rles[0].metadata["segmentation"], dict)
    write_refcoco_rle(tmp_path / "a" / "RefCOCO")  # the files of a folder replaced
    assert task.load_samples(tmp_path / "a" / "RefCOCO")[0].metadata["image_size"] == [480, 320]
