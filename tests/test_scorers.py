"""Each kind of scorer on hand-computed data: a mean with breakdowns and judge runs, an F1 over the set, a ratio
of means, a joint accuracy over two tasks, a mean over tasks, and corpus caption metrics."""

from __future__ import annotations

import shutil

import pytest

from vipbench.errors import UnknownNameError, VipbenchError
from vipbench.records import PredictionRecord
from vipbench.scoring.aggregate import summarise, summarise_group
from vipbench.scoring.base import GradedItem, MemberScores, build_scorer
from vipbench.scoring.scorers import Binary, Joint, Mean, MeanOf, Relative


def record(sample_id: str, prediction: str = "", references=("ref",), task: str = "t", **meta) -> PredictionRecord:
    return PredictionRecord(
        task=task,
        sample_id=sample_id,
        region_mode="overlay",
        prediction=prediction,
        prompt="q",
        references=list(references),
        metadata=meta,
        image="i",
        doc_hash="",
        prompt_hash="",
        target_hash="",
        seconds=0.0,
    )


def items(*values: dict) -> list[GradedItem]:
    return [GradedItem(record(f"s{i}"), v) for i, v in enumerate(values)]


def test_mean_over_runs_breakdowns_and_failed_grades():
    # Three items, two judge runs; item 2 failed in run 1 and is left out of that run only.
    rows = [
        (record("a", cap=["ocr", "math"]), [{"score": 10.0}, {"score": 8.0}]),
        (record("b", cap=["ocr"]), [{"score": 0.0}, {"score": 2.0}]),
        (record("c", cap=["math"]), [{"score": 5.0}, None]),
    ]
    summary = summarise(Mean(), rows, runs=2, breakdowns=["cap"], labels={"ocr": "OCR"})
    # run 0: (10 + 0 + 5) / 3 = 50.0; run 1: (8 + 2) / 2 = 50.0
    assert summary.total.runs == [50.0, 50.0] and summary.total.mean == 50.0 and summary.total.std == 0.0
    assert summary.total.label == "All" and summary.total.n == 3
    ocr, math = summary.breakdowns["cap"]["ocr"], summary.breakdowns["cap"]["math"]
    assert (ocr.label, ocr.runs, ocr.mean) == ("OCR", [50.0, 50.0], 50.0)
    assert (math.runs, math.mean, math.std) == ([75.0, 80.0], 77.5, 2.5)  # run 1 has only item a


def test_binary_f1_over_the_set_and_the_yes_ratio_of_predictions():
    # labels:  yes yes yes no  no  no  yes no
    # answers: yes yes no  yes no  no  -   no     (- = unparseable)
    pairs = [("yes", "yes"), ("yes", "yes"), ("no", "yes"), ("yes", "no"), ("no", "no"), ("no", "no")]
    pairs += [(None, "yes"), ("no", "no")]
    numbers = Binary().score(items(*({"answer": a, "label": gold} for a, gold in pairs)))
    # TP 2, FP 1, TN 3, FN 1 (the unparseable answer is wrong, but in no cell: lmms-eval's rule); N 8
    assert numbers["accuracy"] == pytest.approx(100 * 5 / 8)
    assert numbers["precision"] == pytest.approx(100 * 2 / 3)
    assert numbers["recall"] == pytest.approx(100 * 2 / 3)
    assert numbers["f1"] == pytest.approx(100 * 2 * 2 / (2 * 2 + 1 + 1))  # 66.7
    assert numbers["yes_ratio"] == pytest.approx(100 * 3 / 8)  # from the answers, not the labels (which say 4/8)
    assert numbers["unparseable"] == pytest.approx(100 / 8)
    # F1 is a set statistic: no mean of per-item values gives it.
    none_yes = Binary().score(items({"answer": "no", "label": "no"}, {"answer": "no", "label": "yes"}))
    assert none_yes["precision"] is None and none_yes["f1"] == 0.0  # where LLaVA's eval_pope.py divides by zero


def test_relative_score_is_a_ratio_of_means_and_can_pass_100():
    grades = items({"model": 6, "reference": 8}, {"model": 9, "reference": 7}, {"model": 9, "reference": 9})
    numbers = Relative().score(grades)
    assert numbers["relative"] == pytest.approx(100 * (24 / 3) / (24 / 3))  # 8 / 8
    assert numbers["model"] == pytest.approx(80.0) and numbers["reference"] == pytest.approx(80.0)
    assert Relative().score(items({"model": 9, "reference": 6}))["relative"] == pytest.approx(150.0)
    assert numbers["relative"] != pytest.approx(sum(100 * m / r for m, r in ((6, 8), (9, 7), (9, 9))) / 3)


def test_joint_accuracy_joins_two_tasks_by_sample_id_not_position():
    qa = [GradedItem(record(sid, task="qa"), {"score": s}) for sid, s in [("1", 10), ("2", 10), ("3", 0), ("4", 10)]]
    # QA→R lists the samples in another order, and sample 4's grade failed (absent).
    qar = [GradedItem(record(sid, task="qar"), {"score": s}) for sid, s in [("3", 10), ("2", 0), ("1", 10)]]
    numbers = Joint().score_group({"qa": MemberScores(qa, {}), "qar": MemberScores(qar, {})})
    assert numbers == {"accuracy": pytest.approx(100 / 3)}  # only sample 1 is right in both, of 3 joined


def test_mean_of_one_score_over_member_tasks():
    members = {t: MemberScores([], {"f1": f1}) for t, f1 in [("random", 87.18), ("popular", 86.29), ("adv", 84.50)]}
    assert MeanOf("f1").score_group(members)["f1"] == pytest.approx(85.99)  # LLaVA-1.5's POPE, issue #626
    members["adv"] = MemberScores([], {"f1": None})
    assert MeanOf("f1").score_group(members)["f1"] is None


def test_group_summary_over_judge_runs():
    rows_a = [(record("1"), [{"score": 10.0}]), (record("2"), [{"score": 10.0}])]
    rows_b = [(record("1"), [{"score": 10.0}]), (record("2"), [{"score": 0.0}])]
    members = {"a": (rows_a, summarise(Mean(), rows_a, 1)), "b": (rows_b, summarise(Mean(), rows_b, 1))}
    total, secondary = summarise_group(Joint(), members, runs=1)
    assert (total.mean, total.n, secondary) == (50.0, 2, {})


def test_scorer_names_and_arguments_are_checked():
    with pytest.raises(UnknownNameError, match="Did you mean 'binary'"):
        build_scorer("binray", {})
    with pytest.raises(VipbenchError, match="scorer 'binary' has no argument 'postive'; it takes positive"):
        build_scorer("binary", {"postive": "yes"})
    with pytest.raises(VipbenchError, match="not a group scorer"):
        build_scorer("mean", {}, group=True)


needs_java = pytest.mark.skipif(shutil.which("java") is None, reason="the PTB tokenizer needs Java")


@needs_java
def test_caption_metrics_are_corpus_level_and_match_pycocoevalcap():
    pytest.importorskip("pycocoevalcap")
    from pycocoevalcap.cider.cider import Cider

    from vipbench.scoring.captions import Caption, ptb_tokenize

    corpus = [
        record("a", "A man on a horse.", ["A man riding a horse.", "a person on a horse"]),
        record("b", "A dog\u2028in snow!", ["Two dogs playing in the snow."]),  # a line break inside a caption
    ]
    numbers = Caption(metrics=["bleu", "rouge_l", "cider"]).score([GradedItem(r, {}) for r in corpus])
    # Tokenized: "a man on a horse" (5) and "a dog in snow" (4): 9 words, 7 of them in a reference
    # (clipped counts); closest reference lengths 5 and 6 give 11. BLEU-1 = 7/9 × exp(1 - 11/9).
    import math

    assert numbers["bleu_1"] == pytest.approx(100 * 7 / 9 * math.exp(1 - 11 / 9), abs=1e-6)
    # Corpus BLEU-1 is not the mean of the per-caption BLEU-1s (1.0 and 0.3033).
    assert numbers["bleu_1"] != pytest.approx(100 * (1.0 + 0.3033) / 2, abs=0.5)
    gts = {0: ptb_tokenize(corpus[0].references), 1: ptb_tokenize(corpus[1].references)}
    assert gts[1] == ["two dogs playing in the snow"]
    res = {0: ["a man on a horse"], 1: ["a dog in snow"]}
    assert ptb_tokenize([r.prediction for r in corpus]) == [res[0][0], res[1][0]]
    assert numbers["cider"] == pytest.approx(100 * Cider().compute_score(gts, res)[0])
    assert set(numbers) == {"bleu_1", "bleu_2", "bleu_3", "bleu_4", "rouge_l", "cider"}
