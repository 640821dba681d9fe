"""Corpus captioning metrics through pycocoevalcap: BLEU-1..4, METEOR, ROUGE-L and CIDEr, on PTB-tokenized text.

Each metric is computed on its own, never through ``COCOEvalCap.evaluate()``, whose SPICE step downloads Stanford
models and breaks on Java 17. The Stanford PTB tokenizer (pycocoevalcap's jar, lower-cased, punctuation dropped,
as COCO caption evaluation does) runs here with its output checked line by line: a caption holding a line
break of any kind cannot shift every later caption onto the wrong references, as it can upstream.
"""

from __future__ import annotations

import contextlib
import io
import re
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from vipbench.errors import MissingExtraError, VipbenchError
from vipbench.scoring.base import GradedItem, Numbers

METRICS = ("bleu", "meteor", "rouge_l", "cider")
_BLEU = ["bleu_1", "bleu_2", "bleu_3", "bleu_4"]

#: Tokens the COCO caption evaluation removes after tokenizing (pycocoevalcap tokenizer/ptbtokenizer.py).
_PUNCTUATION = {
    "''",
    "'",
    "``",
    "`",
    "-LRB-",
    "-RRB-",
    "-LCB-",
    "-RCB-",
    ".",
    "?",
    "!",
    ",",
    ":",
    "-",
    "--",
    "...",
    ";",
}
_LINE_BREAKS = re.compile(r"[\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")


def _package() -> Path:
    try:
        from pycocoevalcap.tokenizer import ptbtokenizer  # the package itself has no __init__.py
    except ImportError:
        raise MissingExtraError("captions", "the caption scorer (pycocoevalcap)") from None
    return Path(ptbtokenizer.__file__).parent.parent


def _java() -> str:
    java = shutil.which("java")
    if java is None:
        raise VipbenchError(
            "the caption scorer runs the Stanford PTB tokenizer and METEOR, which need Java: "
            "apt install default-jre-headless"
        )
    return java


def ptb_tokenize(texts: Sequence[str]) -> list[str]:
    """Each text lower-cased and PTB-tokenized, punctuation removed, one output per input."""
    if not texts:
        return []
    jar = _package() / "tokenizer" / "stanford-corenlp-3.4.1.jar"
    lines = "\n".join(_LINE_BREAKS.sub(" ", t) for t in texts)
    command = [_java(), "-cp", str(jar), "edu.stanford.nlp.process.PTBTokenizer", "-preserveLines", "-lowerCase"]
    done = subprocess.run(command, input=lines.encode(), capture_output=True, check=False)
    out = done.stdout.decode().split("\n")
    if done.returncode != 0 or len(out) < len(texts):
        error = done.stderr.decode().strip().splitlines()[-1:] or ["no output"]
        raise VipbenchError(f"the PTB tokenizer failed ({error[0]})")
    return [" ".join(w for w in line.rstrip().split(" ") if w and w not in _PUNCTUATION) for line in out[: len(texts)]]


class Caption:
    """COCO caption metrics over the whole corpus of a unit (× 100, as papers report them); the headline is
    CIDEr. ``metrics`` picks among bleu (BLEU-1..4), meteor, rouge_l and cider; METEOR starts a Java process
    (about 5 s) and is the slowest."""

    version = 1
    headline = "cider"
    labels = {
        "bleu_1": "BLEU-1",
        "bleu_2": "BLEU-2",
        "bleu_3": "BLEU-3",
        "bleu_4": "BLEU-4",
        "meteor": "METEOR",
        "rouge_l": "ROUGE-L",
        "cider": "CIDEr",
    }

    def __init__(self, metrics: Sequence[str] = METRICS):
        unknown = [m for m in metrics if m not in METRICS]
        if unknown or "cider" not in metrics:
            raise ValueError(f"metrics must include cider and come from {', '.join(METRICS)}; got {list(metrics)}")
        self.metrics = tuple(metrics)

    def score(self, items: Sequence[GradedItem]) -> Numbers:
        if not items:
            return dict.fromkeys(n for m in self.metrics for n in (_BLEU if m == "bleu" else [m]))
        references = [list(i.record.references) for i in items]
        flat = ptb_tokenize([i.record.prediction for i in items] + [r for refs in references for r in refs])
        predictions, rest = flat[: len(items)], iter(flat[len(items) :])
        gts = {k: [next(rest) for _ in refs] for k, refs in enumerate(references)}
        res = {k: [p] for k, p in enumerate(predictions)}
        numbers: Numbers = {}
        with contextlib.redirect_stdout(io.StringIO()):  # pycocoevalcap prints its BLEU counts
            for name in self.metrics:
                numbers.update(_compute(name, gts, res))
        return numbers


def _compute(name: str, gts: dict, res: dict) -> Numbers:
    _package()
    if name == "bleu":
        from pycocoevalcap.bleu.bleu import Bleu

        values, _ = Bleu(4).compute_score(gts, res)
        return {name: 100 * float(v) for name, v in zip(_BLEU, values)}
    if name == "meteor":
        _java()
        from pycocoevalcap.meteor.meteor import Meteor

        value, _ = Meteor().compute_score(gts, res)
        return {"meteor": 100 * float(value)}
    if name == "rouge_l":
        from pycocoevalcap.rouge.rouge import Rouge

        value, _ = Rouge().compute_score(gts, res)
        return {"rouge_l": 100 * float(value)}
    from pycocoevalcap.cider.cider import Cider

    value, _ = Cider().compute_score(gts, res)
    return {"cider": 100 * float(value)}
