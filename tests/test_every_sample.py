"""Every sample is scored: identical requests are asked once and the answer is recorded for every sample that
asked it (LLaVA's ``eval_pope.py`` counts every question of a split, repeats included)."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

from vipbench.cli import main
from vipbench.store import RunStore


def write_pope_with_repeats(root: Path, questions: int, repeats: int) -> Path:
    """RUCAIBox's JSON lines, in which the last ``repeats`` questions repeat earlier ones word for word on the same
    image under another question_id, with the same label."""
    lines = []
    for i in range(questions - repeats):
        image = f"COCO_val2014_{i:012d}.jpg"
        (root / "val2014").mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (40 + i, 30), (i * 7 % 255, 90, 160)).save(root / "val2014" / image)
        label = "yes" if i % 2 else "no"
        lines.append({"question_id": i, "image": image, "text": f"Is there a thing {i} in the image?", "label": label})
    for k in range(repeats):
        lines.append({**lines[k * 2], "question_id": 1000 + k})
    for setting in ("random", "popular", "adversarial"):  # the same question ids in each, as POPE's overlap
        path = root / "output" / "coco" / f"coco_pope_{setting}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return root


def test_repeated_questions_are_asked_once_and_every_sample_is_scored(tmp_path, capsys):
    data = write_pope_with_repeats(tmp_path / "POPE", questions=30, repeats=8)
    results = tmp_path / "results"
    args = ["run", "--model", "oracle", "--tasks", "pope-random", "--data-dir", f"pope={data}"]
    assert main([*args, "--run-id", "pope", "--results", str(results)]) == 0
    assert "8 of 30 requests are identical to earlier ones" in capsys.readouterr().err
    store = RunStore.open(results, "pope")
    predictions = store.predictions()
    assert len(predictions) == 30 and len({p.sample_id for p in predictions}) == 30
    repeated = {p.sample_id: p.prediction for p in predictions}
    assert all(repeated[str(1000 + k)] == repeated[str(k * 2)] for k in range(8))
    manifest = store.manifest()
    assert manifest.tasks["pope-random"].asked == 22 and manifest.planned == 30 and manifest.status == "complete"
    unit = json.loads(store.scores_path.read_text())["units"]["pope-random"]
    assert unit["total"]["n"] == 30 and unit["total"]["mean"] == 100.0


def test_a_run_killed_between_repeats_records_the_rest_on_resume(tmp_path, capsys):
    data = write_pope_with_repeats(tmp_path / "POPE", questions=12, repeats=4)
    results = tmp_path / "results"
    args = ["run", "--model", "oracle", "--tasks", "pope-random", "--data-dir", f"pope={data}"]
    assert main([*args, "--run-id", "pope", "--results", str(results)]) == 0
    store = RunStore.open(results, "pope")
    kept = [p for p in store.predictions() if p.sample_id not in ("0", "1001")]  # a first and a repeat lost
    store.write_predictions(kept)
    manifest = store.manifest()
    manifest.status = "interrupted"
    store.write_manifest(manifest)
    assert main(["run", "--resume", "pope", "--results", str(results)]) == 0
    ids = [p.sample_id for p in store.predictions()]
    assert len(ids) == 12 and len(set(ids)) == 12


def test_a_mean_over_settings_counts_every_settings_samples(tmp_path):
    """POPE's mean F1 is over three separate question sets: its n is theirs together, not the ids they share."""
    data = write_pope_with_repeats(tmp_path / "POPE", questions=10, repeats=2)
    results = tmp_path / "results"
    args = ["run", "--model", "oracle", "--tasks", "pope", "--data-dir", f"pope={data}", "--run-id", "pope"]
    assert main([*args, "--results", str(results)]) == 0
    scores = json.loads(RunStore.open(results, "pope").scores_path.read_text())
    assert [scores["units"][t]["total"]["n"] for t in ("pope-random", "pope-popular", "pope-adversarial")] == [10] * 3
    assert scores["groups"]["pope"]["total"]["n"] == 30 and scores["groups"]["pope"]["total"]["mean"] == 100.0
