"""Multiple-choice questions: the options block ViP-LLaVA's evaluation writes, and reading a letter back.

The block is ``build_prompt`` in ViP-LLaVA's ``llava/visual_prompt_organizer.py``: the question, one ``A. ...``
line per option, then "Answer with the option's letter from the given choices directly." Upstream scores only
an answer that is exactly the letter; ``extract_letter`` also reads the forms models actually write.
"""

from __future__ import annotations

import re

LETTERS = "ABCDEFGH"
INSTRUCTION = "Answer with the option's letter from the given choices directly."


def options_prompt(question: str, options: list[str]) -> str:
    lines = [f"{LETTERS[i]}. {option}" for i, option in enumerate(options)]
    return "\n".join([question, *lines, INSTRUCTION])


def _patterns(letters: str) -> list[re.Pattern[str]]:
    group = f"([{letters}])"
    return [
        re.compile(rf"^\(?{group}\)?\s*$", re.IGNORECASE),  # A · (A) · b
        re.compile(rf"^\(?{group}[.):,](\s|$)"),  # A. the cup · (A) the cup · A: · A,
        re.compile(rf"\b(?:answer|option|choice)(?:\s+is)?\s*[:\-]?\s*\(?{group}\)?(?![A-Za-z])", re.IGNORECASE),
        re.compile(rf"^{group}\s+is\s+(?:the\s+)?(?:correct|right|answer)\b"),  # B is correct
    ]


def extract_letter(text: str, count: int = 4) -> str | None:
    """The option letter an answer gives: "A", "A.", "(A)", "A. the cup…", "The answer is A", "Answer: (B)",
    "option C", "B is correct"; None when it gives none. A leading article ("A man…") is not a letter."""
    letters = LETTERS[:count]
    text = text.strip()
    for pattern in _patterns(letters):
        match = pattern.search(text)
        if match:
            return match.group(1).upper()
    return None
