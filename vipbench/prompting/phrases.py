"""How a question refers to a drawn prompt: "within the red rectangle", "pointed to by the blue arrow".

The preposition and noun per shape are ViP-LLaVA's ``words_shape``, the wording its checkpoints were
trained on (its VCR evaluation writes "at the <colour> point" the same way). Its organizer drops "the" at random
and leaves an unnamed colour out of the text ("within rectangle"); ``vipbench.prompting.draws`` decides both.
"""

from __future__ import annotations

from vipbench.prompting.colors import color_rgb, is_named
from vipbench.prompting.shapes import check_shape

#: Shape → (preposition, noun), from ViP-LLaVA's ``words_shape``.
WORDS: dict[str, tuple[str, str]] = {
    "rectangle": ("within", "rectangle"),
    "ellipse": ("within", "ellipse"),
    "point": ("at", "point"),
    "triangle": ("with", "triangle"),
    "mask": ("with", "mask"),
    "mask contour": ("with", "mask contour"),
    "arrow": ("pointed to by", "arrow"),
    "scribble": ("with", "scribble"),
}


def phrase(shape: str, color: str, the: bool = True) -> str:
    """The words that refer to a prompt of this shape and colour, e.g. ``"within the red rectangle"``; as
    ViP-LLaVA's ``get_all_qa`` writes them: "the " only when ``the``, an unnamed ``#rrggbb`` colour not said."""
    color_rgb(color)  # validates the name
    preposition, noun = WORDS[check_shape(shape)]
    said = f"{color.strip().lower()} " if is_named(color) else ""
    return f"{preposition} {'the ' if the else ''}{said}{noun}"
