"""VCR (Zellers et al. 2019): Q→A, and QA→R conditioned on the ground-truth answer, as ViP-LLaVA evaluates them
(``scripts/eval/vcr_qa.sh``, ``vcr_qar.sh``). VCR needs registration, so it loads only from a user's copy, in
either layout:

- the official ``vcr1annots/<split>.jsonl`` beside ``vcr1images/`` (each image's ``.json`` metadata holds the
  objects' ``boxes``, pixel xyxy plus a detector score, and ``segms``, polygons);
- ViP-LLaVA's ``vcr-<split>.json`` (``meta_dir`` paths start ``./dataset``, which becomes the data folder).

Questions and choices are token lists in which an object reference is a list of 0-based indices into the
image's objects. Each becomes "the <class name> <obj>", so a model reads it in its own mode: "the person at the
red point" when drawn (ViP-LLaVA draws every referenced object as a point), "the person <region>" with a mask
or box, or its coordinates. Drawn, colours and "the" are drawn as ViP-LLaVA's organizer draws them
(``vipbench.prompting.draws``): the regions are listed in its object order, and ``object_names`` says the text
names each object's class (upstream draws, and ignores, an "object"/"instance" swap before each mention).

``metadata["question_layouts"]["shikra"]`` is the question as PerceptionGPT's (Shikra's) ``VCRDataset`` lays it out
(versions ``qc-a`` and ``qac-r``: ``shikra_layout``), for that family's protocol (``question_layout: shikra``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vipbench.data import field, inside, read_json, read_json_list, read_jsonl
from vipbench.errors import DataError
from vipbench.multiple_choice import LETTERS, options_prompt
from vipbench.taskconfig import TaskConfig
from vipbench.types import Region, Sample

PUNCTUATION = {".", ",", "?", "!", ":", ";"}
#: Shikra's ``VCRDataset`` (versions ``qc-a``, ``qac-r``): its labels and the instruction after the options.
SHIKRA_QA = ("QUESTION:", "\nOPTIONS:", "You should decide on the best choice and output the corresponding letter.")
SHIKRA_QAR = (
    "QUESTION:",
    "\nANSWER:",
    "\nRATIONALE OPTIONS:",
    "You should decide on the best choice that explains the above answer and output the corresponding letter.",
)
RATIONALE = (
    "I give you a question and its answer, I need you to provide a rationale explaining why the answer is right. "
    '"{question}" The answer is "{answer}".What is the rationale for this decision?'
)


@dataclass
class Item:
    id: str
    image: Path
    metadata: Path
    question: list
    answers: list[list]
    answer_label: int
    rationales: list[list]
    rationale_label: int
    objects: list[str]


def load_samples(root: Path, config: TaskConfig) -> list[Sample]:
    split, mode = config.dataset.options["split"], config.dataset.options["mode"]
    if mode not in ("qa", "qar"):
        raise DataError(f"{config.source}: dataset mode must be qa or qar, not {mode!r}")
    items = _official(root, split) if _official_file(root, split) else _vip_llava(root, split)
    return [_sample(item, mode) for item in items]


def _official_file(root: Path, split: str) -> Path | None:
    return next((root / p for p in (f"vcr1annots/{split}.jsonl", f"{split}.jsonl") if (root / p).is_file()), None)


def _official(root: Path, split: str) -> list[Item]:
    path = _official_file(root, split)
    assert path is not None
    images = root / "vcr1images" if (root / "vcr1images").is_dir() else root
    items = []
    for lineno, line in read_jsonl(path):
        where = f"{path}:{lineno}"
        items.append(
            _item(
                line,
                where,
                id=str(field(line, "annot_id", where)),
                image=inside(images, str(field(line, "img_fn", where)), f"{where}: img_fn"),
                metadata=inside(images, str(field(line, "metadata_fn", where)), f"{where}: metadata_fn"),
                objects=field(line, "objects", where),
            )
        )
    return items


def _vip_llava(root: Path, split: str) -> list[Item]:
    path = root / f"vcr-{split}.json"
    if not path.is_file():
        raise DataError(
            f"no VCR annotations in {root}: looked for vcr1annots/{split}.jsonl, {split}.jsonl and vcr-{split}.json"
        )
    rows = read_json_list(path)
    items = []
    for i, row in enumerate(rows):
        where = f"{path} [{i}]"
        meta = str(field(row, "meta_dir", where)).replace("./dataset/", "", 1)
        items.append(
            _item(
                row,
                where,
                id=str(field(row, "id", where)),
                image=inside(root, str(field(row, "image", where)), f"{where}: image"),
                metadata=inside(root, meta, f"{where}: meta_dir"),
                objects=field(row, "class_names", where),
            )
        )
    return items


def _item(line: dict[str, Any], where: str, **known: Any) -> Item:
    item = Item(
        question=field(line, "question", where),
        answers=field(line, "answer_choices", where),
        answer_label=int(field(line, "answer_label", where)),
        rationales=field(line, "rationale_choices", where),
        rationale_label=int(field(line, "rationale_label", where)),
        **known,
    )
    if len(item.answers) != 4 or len(item.rationales) != 4:
        raise DataError(f"{where}: VCR questions have 4 answer and 4 rationale choices")
    for path in (item.image, item.metadata):
        if not path.is_file():
            raise DataError(f"{where}: file not found: {path}")
    return item


def render(tokens: list, objects: list[str], where: str) -> str:
    """A token list as text, each object reference as "the <class name> <objN>" (N its 0-based index), spaced
    as ViP-LLaVA's ``get_all_qa`` spaces it: no space before punctuation; a sentence that opens with a
    reference opens with "The"."""
    text = ""
    for i, token in enumerate(tokens):
        if isinstance(token, list):
            refs = []
            for k, index in enumerate(token):
                if not isinstance(index, int) or not 0 <= index < len(objects):
                    raise DataError(f"{where}: object reference {index!r} is not among its {len(objects)} objects")
                refs.append(f"{'The' if i == 0 and k == 0 else 'the'} {objects[index]} <obj{index}>")
            text += (" " if i else "") + " and ".join(refs)
        else:
            text += str(token)
        following = tokens[i + 1] if i + 1 < len(tokens) else None
        if isinstance(following, str) and following not in PUNCTUATION:
            text += " "
    return text


def _sample(item: Item, mode: str) -> Sample:
    where = f"VCR {item.id}"
    question = render(item.question, item.objects, where)
    if mode == "qa":
        template = options_prompt(question, [render(a, item.objects, where) for a in item.answers])
        label, corpus = item.answer_label, [item.question, *item.answers]
    else:
        answer = render(item.answers[item.answer_label], item.objects, where)
        options = [render(r, item.objects, where) for r in item.rationales]
        template = RATIONALE.format(question=question, answer=answer) + options_prompt("", options)
        label, corpus = item.rationale_label, [item.question, item.answers[item.answer_label], *item.rationales]
    referenced = upstream_order(corpus)
    return Sample(
        id=item.id,
        image=None,
        question=None,
        references=(LETTERS[label],),
        regions=tuple(_regions(item.metadata, referenced)),
        template=template,
        source_image=item.image,
        metadata={
            "options": 4,
            "prompt_style": "point",
            "object_names": True,
            "question_layouts": {"shikra": shikra_layout(item, mode)},
        },
    )


def shikra_layout(item: Item, mode: str) -> str:
    """The question as Shikra's ``VCRDataset`` (PerceptionGPT's) writes it: tokens joined by single spaces, each
    object reference one ``<boxes>`` (here its objects' ``<objN>`` joined by ";", as its ``UnifiedFormatter``
    writes the boxes of one ``<boxes>``), options as "(A) ...", then the version's instruction: ``qc-a`` for Q→A,
    ``qac-r`` (the right answer given) for QA→R."""

    def sentence(tokens: list) -> str:
        return " ".join(";".join(f"<obj{i}>" for i in t) if isinstance(t, list) else str(t) for t in tokens)

    def options(choices: list[list]) -> str:
        return " ".join(f"({letter}) {sentence(c)}" for letter, c in zip(LETTERS, choices))

    if mode == "qa":
        question, listed, ask = SHIKRA_QA
        return " ".join([question, sentence(item.question), listed, options(item.answers), ask])
    question, answer, listed, ask = SHIKRA_QAR
    gold = sentence(item.answers[item.answer_label])
    return " ".join([question, sentence(item.question), answer, gold, listed, options(item.rationales), ask])


def upstream_order(corpus: list[list]) -> list[int]:
    """The referenced objects in ViP-LLaVA's order (``get_all_instances``): every reference in text order, then
    ``list(set(...))``, whose order (CPython's, by hash) is the order upstream gives the objects colours."""
    return list(set(i for tokens in corpus for t in tokens if isinstance(t, list) for i in t))


def _regions(path: Path, indices: list[int]) -> list[Region]:
    """Each referenced object's box (its 5th column, a detector score, dropped) and polygons, as ViP-LLaVA keeps
    them: in reverse order, only those of 4 points or more."""
    meta = read_json(path)
    boxes, segms = meta.get("boxes") if isinstance(meta, dict) else None, meta.get("segms") or []
    if not isinstance(boxes, list):
        raise DataError(f"{path}: expected VCR image metadata with 'boxes'")
    regions = []
    for index in indices:
        if index >= len(boxes):
            raise DataError(f"{path}: object {index} has no box ({len(boxes)} boxes)")
        x1, y1, x2, y2 = (float(v) for v in boxes[index][:4])
        polygons = segms[index] if index < len(segms) else []
        kept = tuple(tuple((float(x), float(y)) for x, y in p) for p in reversed(polygons) if len(p) >= 4)
        regions.append(Region(box=(x1, y1, x2, y2), polygons=kept, label=f"obj{index}"))
    return regions
