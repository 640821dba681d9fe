"""The local exact-match metric: normalised answers, and closed choice sets that cannot be gamed."""

from __future__ import annotations

from vipbench.metrics import exact_match, normalize
from vipbench.records import PredictionRecord


def record(prediction: str, reference: str, choices=()) -> PredictionRecord:
    return PredictionRecord(
        task="t",
        sample_id="s",
        region_mode="overlay",
        prediction=prediction,
        prompt="q",
        references=[reference],
        metadata={"choices": list(choices)},
        image="i",
        doc_hash="",
        prompt_hash="",
        target_hash="",
        seconds=0.0,
    )


def test_normalize():
    assert normalize("The Café, two!") == "cafe 2"
    assert normalize("top-left") == "top left"
    assert normalize("A") == "a"  # a lone letter is an answer, not an article


def test_exact_match_on_the_normalised_answer():
    assert exact_match(record("Two.", "2")) == 10.0
    assert exact_match(record("3", "2")) == 0.0
    assert exact_match(record("A", "A")) == 10.0


def test_a_sentence_naming_one_choice_counts_but_listing_choices_does_not():
    colours = ["red", "yellow", "green", "blue"]
    assert exact_match(record("The object is yellow.", "yellow", colours)) == 10.0
    assert exact_match(record("It is yellow or red.", "yellow", colours)) == 0.0
    assert exact_match(record("It is green.", "yellow", colours)) == 0.0
    quadrants = ["top left", "top right", "bottom left", "bottom right"]
    assert exact_match(record("In the bottom right corner.", "bottom right", quadrants)) == 10.0
