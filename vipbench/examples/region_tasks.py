"""Small copies of the region benchmarks in the layouts users download: Hugging Face parquet repos (a README with
``configs`` and parquet files) for POPE and RefCOCOg, RUCAIBox's POPE JSON lines, VCR's official annotations and
image metadata, ViP-LLaVA's and the official/Shikra files for Visual7W and PointQA-LookTwice, and LLaVA-Bench's
files. The tests run on them; ``vipbench example-data`` writes them for a user. Nothing is downloaded."""

from __future__ import annotations

import io
import json
from pathlib import Path

from PIL import Image, ImageDraw

POPE_ITEMS = [  # (question_id, object, label)
    ("1", "dog", "yes"),
    ("2", "cat", "no"),
    ("3", "car", "yes"),
    ("4", "bus", "no"),
    ("5", "cup", "yes"),
    ("6", "kite", "no"),
]


def image_bytes(size: tuple[int, int], color: tuple[int, int, int], fmt: str = "JPEG") -> bytes:
    image = Image.new("RGB", size, color)
    ImageDraw.Draw(image).rectangle((size[0] // 4, size[1] // 4, size[0] // 2, size[1] // 2), fill=(255, 255, 255))
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


def save_image(path: Path, size: tuple[int, int] = (96, 64), color: tuple[int, int, int] = (40, 90, 160)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(image_bytes(size, color))
    return path


def _parquet(path: Path, rows: dict, features) -> None:
    import datasets

    datasets.disable_progress_bars()
    path.parent.mkdir(parents=True, exist_ok=True)
    datasets.Dataset.from_dict(rows, features=features).to_parquet(str(path))


def _card(root: Path, configs: dict[str, dict[str, str]]) -> None:
    """The dataset card's YAML header: each config's splits and their parquet files, as the Hub writes it."""
    lines = ["---", "configs:"]
    for name, splits in configs.items():
        lines += [f"- config_name: {name}", "  data_files:"]
        lines += [f"  - split: {split}\n    path: {pattern}" for split, pattern in splits.items()]
    (root / "README.md").write_text(
        "\n".join([*lines, "---", "# A tiny example written by vipbench, not the dataset", ""])
    )


def write_pope_parquet(root: Path) -> Path:
    """``lmms-lab/POPE``: config ``Full`` with one split per setting."""
    import datasets

    features = datasets.Features(
        {
            "id": datasets.Value("string"),
            "question_id": datasets.Value("string"),
            "question": datasets.Value("string"),
            "answer": datasets.Value("string"),
            "image_source": datasets.Value("string"),
            "image": datasets.Image(),
            "category": datasets.Value("string"),
        }
    )
    splits = {}
    for k, setting in enumerate(("adversarial", "popular", "random")):
        rows = {name: [] for name in features}
        for i, (qid, obj, label) in enumerate(POPE_ITEMS):
            source = f"COCO_val2014_{i:012d}.jpg"
            rows["id"].append(str(i))
            rows["question_id"].append(qid)
            rows["question"].append(f"Is there a {obj} in the image?")
            rows["answer"].append(label)
            rows["image_source"].append(source)
            rows["image"].append({"bytes": image_bytes((80 + i, 60), (20 * i, 100, 40 * k)), "path": source})
            rows["category"].append(setting)
        _parquet(root / "Full" / f"{setting}-00000-of-00001.parquet", rows, features)
        splits[setting] = f"Full/{setting}-*"
    _card(root, {"Full": splits})
    return root


def write_pope_rucaibox(root: Path) -> Path:
    """RUCAIBox's ``output/coco/coco_pope_<setting>.json`` (JSON lines) and COCO ``val2014/`` images."""
    for setting in ("adversarial", "popular", "random"):
        lines = []
        for i, (qid, obj, label) in enumerate(POPE_ITEMS):
            image = f"COCO_val2014_{i:012d}.jpg"
            save_image(root / "val2014" / image, (80 + i, 60))
            text = f"Is there a {obj} in the image?"
            lines.append(json.dumps({"question_id": int(qid), "image": image, "text": text, "label": label}))
        path = root / "output" / "coco" / f"coco_pope_{setting}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n")
    return root


REFCOCOG_ITEMS = [  # (question_id, [x, y, w, h], references), on COCO-sized 640 × 427 images
    ("r1", [60.0, 48.0, 180.0, 120.0], ["a man riding a horse", "the person on the brown horse"]),
    ("r2", [240.0, 120.0, 144.0, 180.0], ["two dogs playing in the snow"]),
    ("r3", [30.0, 180.0, 300.0, 96.0], ["a red car parked by the road", "red car"]),
]


def refcoco_features(rle: bool = False):
    """The columns of lmms-lab's RefCOCO, RefCOCO+ and RefCOCOg parquet files; with ``rle``, segmentation is COCO
    compressed RLE (a struct of size [H, W] and counts) instead of one flat polygon."""
    import datasets

    polygon = datasets.Sequence(datasets.Value("float32"))
    coco_rle = {"size": datasets.Sequence(datasets.Value("int64")), "counts": datasets.Value("string")}
    return datasets.Features(
        {
            "question_id": datasets.Value("string"),
            "image": datasets.Image(),
            "question": datasets.Value("string"),
            "answer": datasets.Sequence(datasets.Value("string")),
            "segmentation": coco_rle if rle else polygon,
            "bbox": datasets.Sequence(datasets.Value("float32")),
            "iscrowd": datasets.Value("int64"),
            "file_name": datasets.Value("string"),
        }
    )


def refcoco_rows() -> dict[str, list]:
    return {name: [] for name in refcoco_features()}


def add_refcoco_row(
    rows: dict[str, list],
    qid: str,
    name: str,
    image: bytes,
    question: str,
    answers: list[str],
    box: list[float],
    segmentation: object = None,
) -> None:
    """One region: its COCO xywh box, and its segmentation: by default the same box as the one flat polygon
    lmms-lab's files give."""
    x, y, w, h = box
    rows["question_id"].append(qid)
    rows["image"].append({"bytes": image, "path": name})
    rows["question"].append(question)
    rows["answer"].append(answers)
    rows["segmentation"].append([x, y, x + w, y, x + w, y + h, x, y + h] if segmentation is None else segmentation)
    rows["bbox"].append([x, y, w, h])
    rows["iscrowd"].append(0)
    rows["file_name"].append(name)


def write_refcocog(root: Path) -> Path:
    """``lmms-lab/RefCOCOg``: splits ``val`` and ``test``; bbox is COCO xywh, segmentation one flat polygon."""
    question = "Provide a short description for this region."
    for split in ("val", "test"):
        rows = refcoco_rows()
        for i, (qid, box, refs) in enumerate(REFCOCOG_ITEMS):
            image = image_bytes((640, 427), (60, 30 * i, 90))
            add_refcoco_row(rows, f"{split}-{qid}", f"COCO_train2014_{i:012d}.jpg", image, question, refs, box)
        _parquet(root / "data" / f"{split}-00000-of-00001.parquet", rows, refcoco_features())
    _card(root, {"default": {"val": "data/val-*", "test": "data/test-*"}})
    return root


# VCR: two questions on one movie frame with three detected objects.
VCR_OBJECTS = ["person", "person", "car"]
VCR_BOXES = [[10, 10, 40, 60, 0.99], [50, 12, 80, 62, 0.98], [20, 40, 90, 70, 0.7]]
VCR_SEGMS = [
    [[[10, 10], [40, 10], [40, 60], [10, 60]]],
    [[[50, 12], [80, 12], [80, 62]], [[50, 12], [80, 12], [80, 62], [50, 62]]],  # a 3-point polygon is dropped
    [],
]
VCR_QUESTIONS = [
    {
        "annot_id": "val-0",
        "question": ["Why", "is", [0], "looking", "at", [1], "?"],
        "answer_choices": [
            [[0], "is", "angry", "."],
            [[0], "wants", "to", "talk", "to", [1], "."],
            ["Nobody", "is", "looking", "."],
            [[0, 1], "are", "friends", "."],
        ],
        "answer_label": 1,
        "rationale_choices": [
            [[0], "is", "walking", "toward", [1], "."],
            ["The", "weather", "is", "nice", "."],
            [[2], "is", "red", "."],
            [[1], "is", "asleep", "."],
        ],
        "rationale_label": 0,
    },
    {
        "annot_id": "val-1",
        "question": ["What", "is", [2], "doing", "?"],
        "answer_choices": [["Parking", "."], ["Flying", "."], ["Swimming", "."], ["Singing", "."]],
        "answer_label": 0,
        "rationale_choices": [[[2], "is", "stopped", "."], ["Cars", "fly", "."], ["Fish", "."], ["Songs", "."]],
        "rationale_label": 0,
    },
]


VCR_FRAME = "lsmdc_movie/frame_0001"


def _write_vcr_frame(root: Path) -> str:
    """``vcr1images/<movie>/<frame>.jpg`` with its ``.json`` metadata (objects' boxes and polygons)."""
    save_image(root / "vcr1images" / f"{VCR_FRAME}.jpg", (100, 80))
    meta = {"boxes": VCR_BOXES, "segms": VCR_SEGMS, "names": VCR_OBJECTS, "width": 100, "height": 80}
    (root / "vcr1images" / f"{VCR_FRAME}.json").write_text(json.dumps(meta))
    return VCR_FRAME


def write_vcr_official(root: Path) -> Path:
    """``vcr1annots/val.jsonl`` and ``vcr1images/<movie>/<frame>.jpg`` with its ``.json`` metadata."""
    frame = _write_vcr_frame(root)
    lines = []
    for q in VCR_QUESTIONS:
        line = {**q, "movie": "lsmdc_movie", "objects": VCR_OBJECTS, "img_fn": f"{frame}.jpg"}
        line["metadata_fn"] = f"{frame}.json"
        lines.append(json.dumps(line))
    (root / "vcr1annots").mkdir(parents=True, exist_ok=True)
    (root / "vcr1annots" / "val.jsonl").write_text("\n".join(lines) + "\n")
    return root


def write_vcr_vip_llava(root: Path) -> Path:
    """ViP-LLaVA's ``vcr-val.json``, pointing at ``vcr1images`` through ``./dataset/`` paths (no ``vcr1annots``:
    the loader would read that first)."""
    _write_vcr_frame(root)
    rows = []
    for q in VCR_QUESTIONS:
        row = {k: v for k, v in q.items() if k != "annot_id"}
        row.update(
            id=f"vcr-{q['annot_id']}",
            image=f"vcr1images/{VCR_FRAME}.jpg",
            meta_dir=f"./dataset/vcr1images/{VCR_FRAME}.json",
            class_names=VCR_OBJECTS,
        )
        rows.append(row)
    (root / "vcr-val.json").write_text(json.dumps(rows))
    return root


V7W_BOXES = [[5.0, 5.0, 30.0, 25.0], [40.0, 5.0, 70.0, 30.0], [5.0, 35.0, 35.0, 60.0], [50.0, 35.0, 90.0, 60.0]]


def write_v7w_vip_llava(root: Path) -> Path:
    save_image(root / "images" / "v7w_1.jpg", (96, 64))
    rows = [
        {
            "id": "v7w-1",
            "image": "v7w_1.jpg",
            "question": "Which is the cup?",
            "bboxes": V7W_BOXES,
            "answer": V7W_BOXES[2],
        },
        {
            "id": "v7w-2",
            "image": "v7w_1.jpg",
            "question": "Which is the plate?",
            "bboxes": V7W_BOXES,
            "answer": V7W_BOXES[0],
        },
    ]
    (root / "v7w-test.json").write_text(json.dumps(rows))
    return root


def write_v7w_official(root: Path) -> Path:
    """``dataset.json`` of ``dataset_v7w_pointing``: box ids, boxes as x, y, width, height."""
    save_image(root / "images" / "v7w_7.jpg", (96, 64))
    boxes = [
        {"box_id": 100 + i, "x": b[0], "y": b[1], "width": b[2] - b[0], "height": b[3] - b[1], "name": "thing"}
        for i, b in enumerate(V7W_BOXES)
    ]
    qa = [
        {
            "qa_id": 11,
            "question": "Which is the cup?",
            "answer": 102,
            "multiple_choices": [100, 101, 103],
            "type": "which",
        },
        {
            "qa_id": 12,
            "question": "Which is the fork?",
            "answer": 103,
            "multiple_choices": [100, 101, 102],
            "type": "which",
        },
    ]
    images = [{"image_id": 7, "filename": "v7w_7.jpg", "split": "test", "qa_pairs": qa}]
    images.append({"image_id": 8, "filename": "v7w_8.jpg", "split": "train", "qa_pairs": []})
    (root / "dataset.json").write_text(json.dumps({"images": images, "boxes": boxes}))
    return root


POINTQA_ITEMS = [
    ("p1", "How many birds are there?", "3", [10, 10, 30, 40]),
    ("p2", "How many cows?", "two", [5, 5, 20, 20]),
]


def write_pointqa_vip_llava(root: Path) -> Path:
    save_image(root / "images" / "2345.jpg", (96, 64))
    rows = [
        {"id": f"pointQA_twice-{i}", "image": "2345.jpg", "general_question": q, "answer": a, "bboxes": [box]}
        for i, q, a, box in POINTQA_ITEMS
    ]
    (root / "pointQA_twice_test.json").write_text(json.dumps(rows))
    return root


def write_pointqa_shikra(root: Path) -> Path:
    save_image(root / "images" / "2345.jpg", (96, 64))
    lines = [
        json.dumps(
            {
                "file_path": "2345.jpg",
                "general_question": q,
                "obj_question": q,
                "super_question": q,
                "answer": a,
                "bbox": box,
                "point": None,
            }
        )
        for _, q, a, box in POINTQA_ITEMS
    ]
    (root / "pointQA_twice_test.jsonl").write_text("\n".join(lines) + "\n")
    return root


LLAVA_WILD = [  # (question_id, image, category, question)
    (0, "001.jpg", "conv", "What is the name of this dish?"),
    (1, "001.jpg", "detail", "Describe this photo in detail."),
    (2, "002.jpg", "complex", "Why might this scene be unusual?"),
    (3, "002.jpg", "conv", "What colour is the car?"),
    (4, "003.jpg", "detail", "Describe the objects on the table."),
    (5, "003.jpg", "complex", "What could the person be planning?"),
]


def _jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def write_llava_bench_wild(root: Path) -> Path:
    """HF ``liuhaotian/llava-bench-in-the-wild``: questions, context, GPT-4's answers, images."""
    for name in {image for _, image, _, _ in LLAVA_WILD}:
        save_image(root / "images" / name, (120, 90))
    _jsonl(
        root / "questions.jsonl",
        [{"question_id": q, "image": i, "text": t, "category": c} for q, i, c, t in LLAVA_WILD],
    )
    _jsonl(
        root / "context.jsonl",
        [{"id": i, "image": i, "caption": f"A photo ({i})."} for i in ("001.jpg", "002.jpg", "003.jpg")],
    )
    _jsonl(
        root / "answers_gpt4.jsonl",
        [{"question_id": q, "text": f"GPT-4's answer to {q}."} for q, _, _, _ in LLAVA_WILD],
    )
    return root


def write_llava_bench_coco(root: Path) -> Path:
    """LLaVA's qa90 files and ``caps_boxes_coco2014_val_80.jsonl`` (normalised xyxy boxes), with COCO val2014."""
    save_image(root / "val2014" / "COCO_val2014_000000296284.jpg", (120, 90))
    questions = [
        {"question_id": k, "image": "000000296284.jpg", "text": t, "category": c}
        for k, (c, t) in enumerate(
            [("conv", "What is in the case?"), ("detail", "Describe the image."), ("complex", "Why?")]
        )
    ]
    _jsonl(root / "qa90_questions.jsonl", questions)
    _jsonl(root / "qa90_gpt4_answer.jsonl", [{"question_id": q["question_id"], "text": "Donuts."} for q in questions])
    context = {
        "id": "000000296284",
        "image": "000000296284.jpg",
        "captions": ["A donut shop.", "Donuts in a glass case."],
        "instances": [{"category": "donut", "bbox": [0.37, 0.584, 0.504, 0.709]}],
    }
    _jsonl(root / "caps_boxes_coco2014_val_80.jsonl", [context])
    return root
