"""A small ViP-Bench in the exact official layout (HF ``mucai/ViP-Bench``), the data the tests run on and what
``vipbench example-data vip-bench DIR`` writes.

It covers what real data throws at a loader: non-square, RGBA and palette PNGs, multi-label capabilities,
<AND>/<OR> answers, rectangle and polygon LabelMe shapes, two-region questions and unicode text.
"""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image, ImageDraw

# (capabilities, answer, question template, pre-rendered bbox text, shapes)
ITEMS = [
    (
        ["ocr", "math"],
        "0.75<OR>x=0.75<OR>3/4",
        "What is the value of x in the equation <obj>?",
        "What is the value of x in the equation within the red rectangle?",
        ["rectangle"],
    ),
    (["rec"], "cat", "What animal is <obj>?", "What animal is within the red rectangle?", ["polygon"]),
    (
        ["rec", "know"],
        "-1<AND>-5",
        "Which roots does the polynomial <obj> have?",
        "Which roots does the polynomial within the red rectangle have?",
        ["rectangle"],
    ),
    (
        ["rel"],
        "the cup is left of the plate",
        "Where is the object <obj1> relative to the object <obj2>?",
        "Where is the object within the red rectangle relative to the object within the blue rectangle?",
        ["rectangle", "polygon"],
    ),
    (
        ["lang", "rec"],
        "un café ☕ sur la table",
        "Décris l'objet <obj> en français.",
        "Décris l'objet within the red rectangle en français. 日本語もOK",
        ["polygon"],
    ),
    (
        ["ocr"],
        "STOP",
        "What does the sign <obj> say?",
        "What does the sign within the red rectangle say?",
        ["rectangle"],
    ),
    (
        ["rec", "ocr", "know"],
        "Paris<OR>paris",
        "Which city is written <obj>?",
        "Which city is written within the red rectangle?",
        ["rectangle"],
    ),
    (["math"], "12", "How many dots are <obj>?", "How many dots are within the red rectangle?", ["polygon"]),
]
SIZES = [(640, 480), (300, 420), (256, 256), (500, 300), (333, 222), (400, 400), (720, 360), (200, 320)]
MODES = ["RGB", "RGBA", "P", "RGB", "RGBA", "P", "RGB", "RGB"]


def _shape(kind: str, w: int, h: int, k: int, many: bool) -> dict:
    x1, y1 = w * (0.1 + 0.4 * k), h * 0.2
    x2, y2 = x1 + w * 0.3, y1 + h * 0.4
    if kind == "rectangle":
        points = [[x1, y1], [x2, y2]]
    else:
        points = [[x1, y2], [(x1 + x2) / 2, y1], [x2, y2], [(x1 + x2) / 2, y2 - h * 0.05]]
    return {
        "label": f"obj{k + 1}" if many else "obj",
        "points": points,
        "shape_type": kind,
        "group_id": None,
        "flags": {},
    }


def _base_image(size: tuple[int, int], seed: int) -> Image.Image:
    image = Image.new("RGB", size, (40 + 20 * (seed % 8), 90, 140))
    draw = ImageDraw.Draw(image)
    w, h = size
    for j in range(4):
        draw.ellipse([w * j / 4, h * 0.6, w * j / 4 + w / 6, h * 0.6 + h / 6], fill=(200, 30 * j, 60))
    return image


def write_vip_bench(root: Path, n: int = len(ITEMS)) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    meta: dict[str, dict] = {}
    questions = {"bbox": [], "human": []}
    (root / "source_image").mkdir(exist_ok=True)
    for split in questions:
        (root / split / "images").mkdir(parents=True, exist_ok=True)
    for i in range(n):  # beyond len(ITEMS) the items repeat, with new ids and images
        caps, answer, template, text, shapes = ITEMS[i % len(ITEMS)]
        if i >= len(ITEMS):  # keep every question distinct, as in the real benchmark
            template, text = f"{template} (item {i})", f"{text} (item {i})"
        w, h = SIZES[i % len(SIZES)]
        source = _base_image((w, h), i)
        source_name = f"v1_{i}.jpg" if i % 2 == 0 else f"v1_{i}.png"
        source.save(root / "source_image" / source_name)
        labelme = {
            "version": "5.2.1",
            "flags": {},
            "imagePath": source_name,
            "imageHeight": h,
            "imageWidth": w,
            "imageData": None,
            "shapes": [_shape(kind, w, h, k, len(shapes) > 1) for k, kind in enumerate(shapes)],
        }
        (root / "source_image" / source_name).with_suffix(".json").write_text(json.dumps(labelme, indent=1))
        for split, color, phrase in (
            ("bbox", (255, 0, 0), "within the red rectangle"),
            ("human", (0, 0, 255), "pointed to by the blue arrow"),
        ):
            drawn = source.copy()
            draw = ImageDraw.Draw(drawn)
            for shape in labelme["shapes"]:
                xs = [p[0] for p in shape["points"]]
                ys = [p[1] for p in shape["points"]]
                draw.rectangle([min(xs), min(ys), max(xs), max(ys)], outline=color, width=3)
            image_name = f"v1_{i}_0.png"
            mode = MODES[i % len(MODES)]
            out = drawn.convert("RGBA") if mode == "RGBA" else drawn.convert("P") if mode == "P" else drawn
            out.save(root / split / "images" / image_name)
            question = text if split == "bbox" else text.replace("within the red rectangle", phrase)
            questions[split].append({"question_id": i, "image": image_name, "text": question, "category": "vip"})
        meta[f"v1_{i}"] = {
            "image_source": source_name,
            "image": f"v1_{i}_0.png",
            "question": template,
            "answer": answer,
            "capability": caps,
        }
    (root / "vip-bench-meta-data.json").write_text(json.dumps(meta, indent=1, ensure_ascii=False), encoding="utf-8")
    for split, lines in questions.items():
        with (root / split / "questions.jsonl").open("w", encoding="utf-8") as fh:
            for line in lines:
                fh.write(json.dumps(line, ensure_ascii=False) + "\n")
    return root
