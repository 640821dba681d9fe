"""The exact-match metric: normalised whole answers, and documented extractions that rambling cannot game."""

from __future__ import annotations

from vipbench.records import PredictionRecord
from vipbench.scoring.metrics import exact_match, normalize


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


def score(prediction: str, reference: str, choices=(), **args) -> float:
    return exact_match(record(prediction, reference, choices), **args)["score"]


def test_normalize():
    assert normalize("The Café, two!") == "cafe 2"
    assert normalize("top-left") == "top left"
    assert normalize("A") == "a"  # a lone letter is an answer, not an article


def test_the_whole_normalised_answer_is_compared():
    assert score("Two.", "2") == 10.0
    assert score("3", "2") == 0.0
    assert score("A", "A") == 10.0
    assert score("The answer is 2", "2") == 0.0  # no extraction unless the task asks for one


def test_garbage_that_mentions_the_answer_earns_nothing():
    # The tiny random model's output that used to score 10 against "1" on vip-synth's Count.
    garbage = "E 1 H sign of E 1 H sign of E"
    for extract in ("whole", "first_word", "choice"):
        assert score(garbage, "1", [str(i) for i in range(10)], extract=extract) == 0.0


def test_first_word_extraction():
    assert score("Red, I think.", "red", extract="first_word") == 10.0
    assert score("I think red", "red", extract="first_word") == 0.0
    assert exact_match(record("Red, I think.", "red"), extract="first_word")["answer"] == "red"


def test_a_short_answer_naming_one_choice_counts_listing_or_rambling_does_not():
    colours = ["red", "yellow", "green", "blue", "dark blue"]
    assert score("The object is yellow.", "yellow", colours, extract="choice") == 10.0
    assert score("It is yellow or red.", "yellow", colours, extract="choice") == 0.0
    assert score("It is green.", "yellow", colours, extract="choice") == 0.0
    assert score("dark blue", "dark blue", colours, extract="choice") == 10.0
    assert score("It is dark blue.", "dark blue", colours, extract="choice") == 10.0  # "blue" is inside it
    assert score("It is dark blue.", "blue", colours, extract="choice") == 0.0
    long = "well, looking closely at the picture I would say that it is yellow"
    assert score(long, "yellow", colours, extract="choice") == 0.0
    assert score(long, "yellow", colours, extract="choice", max_words=20) == 10.0
    quadrants = ["top left", "top right", "bottom left", "bottom right"]
    assert score("In the bottom right corner.", "bottom right", quadrants, extract="choice") == 10.0
