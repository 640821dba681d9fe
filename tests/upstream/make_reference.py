"""Regenerate the upstream reference data beside this file by running upstream's own code on vipbench's fixtures.

No upstream code is copied here. The script takes checkouts of the four repositories at the pinned commits, checks
every file it runs or reads against the git blob id that file has at that commit, and executes those files as their
shell scripts call them, on the datasets ``vipbench example-data`` writes. Stand-ins replace only what needs a GPU,
a model download or the network:

* the model (``load_pretrained_model``, ``OspreyLlamaForCausalLM``): its ``generate`` records the ids it is given and
  answers with scripted text, so the prompt, the decoding settings and the answer handling are upstream's;
* the tokenizer: one id per character (its code point) after bos 1, so the ids upstream builds turn back into the
  exact prompt text, and ``tokenizer_image_token``'s layout (one bos, -200 for the image) shows;
* the OpenAI client (``openai.ChatCompletion.create``, the pre-1.0 API the scripts call): a capture object that
  records every request and answers with scripted replies;
* ``Tensor.cuda()`` / ``.to(device='cuda')``, which stay on the CPU.

Judge prompts are upstream prose: the data keeps their sha256 and length, never their text. Each job runs in its
own process (LLaVA and ViP-LLaVA both define the package ``llava``).

    python tests/upstream/make_reference.py --llava DIR --vip-llava DIR --osprey DIR --lmms-eval DIR [--out DIR]

Needs vipbench with ``[dev,models,captions]`` (torch, transformers, pycocotools, pycocoevalcap with Java, pandas)
and ``pip install shapely scipy shortuuid requests`` (ViP-LLaVA's prompt drawing and the scripts' imports).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import csv
import hashlib
import importlib
import importlib.util
import io
import json
import linecache
import math
import os
import random
import re
import runpy
import shlex
import shutil
import subprocess
import sys
import tempfile
import types
from collections import Counter
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent

#: Each repository at its pinned commit, and the git blob id of every file this script runs or reads there.
UPSTREAM: dict[str, dict[str, Any]] = {
    "llava": {
        "repo": "haotian-liu/LLaVA",
        "commit": "c121f0432da27facab705978f83c4ada465e46fd",
        "out": "llava_c121f04.json",
        "blobs": {
            "llava/conversation.py": "00c56867dd1fd88094df9556f3d1c57e71a7ada8",
            "llava/mm_utils.py": "de97345cf424fe72cc90de30f42d127ff20b99ef",
            "llava/constants.py": "374be090510b302de9882d880c755787a8eafe11",
            "llava/utils.py": "4006cf917e26c365080b0844c56fab78c48457c0",
            "llava/eval/model_vqa_loader.py": "d435b7d835bdfb2934e32a93f1e8eaab39420ad9",
            "llava/eval/model_vqa.py": "938706438b1d332505fdd0e9670df72c31eee1b2",
            "llava/eval/eval_pope.py": "b115b8f2327ea9d972f9e41bcbb03c68be6b3508",
            "llava/eval/eval_gpt_review_bench.py": "06160f2422b5368f30fb967f7cae635208a1dc69",
            "llava/eval/eval_gpt_review_visual.py": "d6e407a400a67020d801e6c27a3c32a2ee38f30c",
            "llava/eval/summarize_gpt_review.py": "0f796a3880341739677a5fe3bfbcc90515a0f324",
            "llava/eval/table/rule.json": "26c7f4e0819bf0bafbace898f5f5a4f052490aa4",
            "scripts/v1_5/eval/pope.sh": "93fe449d943b36780341ce00638c94eba2e1f37b",
            "scripts/v1_5/eval/llavabench.sh": "ed236e4e3cee3105edd8d2c0bcee8e1ce22d4614",
        },
    },
    "vip-llava": {
        "repo": "WisconsinAIVision/ViP-LLaVA",
        "commit": "77079b1e1990472598f1f8a6bb3f7f470100d191",
        "out": "vip_llava_77079b1.json",
        "blobs": {
            "llava/conversation.py": "501ca25addc3f522cbd9e8de6bfc8bf9a82b785e",
            "llava/mm_utils.py": "75ab69d2799cef1cf01bc23a50eaeb732c5fd558",
            "llava/constants.py": "374be090510b302de9882d880c755787a8eafe11",
            "llava/utils.py": "4006cf917e26c365080b0844c56fab78c48457c0",
            "llava/visual_prompt_organizer.py": "5e416d2b30991bd0b6addd243cd890f41d04fbf2",
            "llava/visual_prompt_generator.py": "72fa4e2165f3e8f3600bdab6d4b3d8eeb72a514b",
            "llava/eval/model_vqa_loader.py": "a0fa08796b7c1b1c77372b039424f84a86dec87e",
            "llava/eval/model_vqa_loader_vip.py": "26fc13eff9f2ef0d0fa8f99fcc08bc8c7fb0e033",
            "llava/eval/model_vqa.py": "aa035aacc8fe513fc3bc769f6986b26e1ccf2201",
            "llava/eval/eval_pope.py": "b115b8f2327ea9d972f9e41bcbb03c68be6b3508",
            "llava/eval/eval_gpt_review_bench.py": "06160f2422b5368f30fb967f7cae635208a1dc69",
            "llava/eval/summarize_gpt_review.py": "0f796a3880341739677a5fe3bfbcc90515a0f324",
            "llava/eval/table/rule.json": "26c7f4e0819bf0bafbace898f5f5a4f052490aa4",
            "scripts/eval/vip-bench_evaluator.py": "311e1d8f099e5eb0b561839fa02e3b28cdbb712a",
            "scripts/convert_vipbench_for_eval.py": "97f5cfb7fb7691ef3921e3e6afc6d82ec54d4c6c",
            "scripts/eval/vipbench.sh": "70a6b375f6e5337c9f4838ecc2f30cd5ac358f01",
            "scripts/eval/v7w.sh": "df21923b5b9a7dbfbf14ad579b5e9b9ede45ae74",
            "scripts/eval/pointQA.sh": "a59bb6b083bd00580a357ab27b83e5ae4d1d00f9",
            "scripts/eval/vcr_qa.sh": "f2bfaa6f25638172a650a834c0d5a0c9455ea209",
            "scripts/eval/vcr_qar.sh": "0e210780d4de01f1c608c9c3856963199a14b6d3",
            "scripts/v1_5/eval/pope.sh": "bb08fed39ccef13c901c23618e3e2d2e09afc35e",
            "scripts/v1_5/eval/llavabench.sh": "657633fef9a6088113202e140aa14704d05eee36",
            "playground/data/eval/vip-bench-example-results/vip-llava-7b-human.json": (
                "8409a837472beb9405a7ed7894523a7645347c78"
            ),
        },
    },
    "osprey": {
        "repo": "CircleRadon/Osprey",
        "commit": "deb0e57d7e771e8d2a8652236b0e348efb9b5c6a",
        "out": "osprey_deb0e57.json",
        "blobs": {
            "osprey/conversation.py": "200ed20dbb9633266ca7b57eb3e625bda2f48b5c",
            "osprey/mm_utils.py": "7684a0246f2df89cb5f2e12d253e370f18ca7dbf",
            "osprey/constants.py": "be8cf0204969a6c973f442b383d8e425d684e826",
            "osprey/train/train.py": "8fe5990ceb2a083712189e05bc8d6547b5992553",
            "osprey/eval/pope_eval.py": "a5206f0f6d905bc6336befdde18f323472753b72",
            "osprey/eval/pope/evaluate.py": "8a13e4e8e9497c9aed3d7c9f394ce74a236dd38e",
            "osprey/eval/refcocog_eval.py": "f81b93ccc0c3542ff95d91f3387351238be7ec10",
            "osprey/eval/pope_eval.sh": "4c5bd470b67a25babe86d802b2725fc20c4d4e7f",
        },
    },
    "lmms-eval": {
        "repo": "EvolvingLMMs-Lab/lmms-eval",
        "commit": "75571cfe0fa36ca5ec2e6aa2bb268f9d38295af3",
        "out": "lmms_eval_75571cf.json",
        "blobs": {
            "lmms_eval/tasks/pope/utils.py": "d647181c9b7bd14ef97a0dd722c66d717454181b",
            "lmms_eval/tasks/pope/pope.yaml": "b7404c15d5a9bd844f0b2f9bbe84e979dc7bf350",
            "lmms_eval/tasks/refcocog/utils.py": "55e40ea7aaa22f5a46a03dba0a43caebe4085ec2",
            "lmms_eval/tasks/refcocog/_default_template_bbox_yaml": "e2287666bd3c5284511e40e940cdd8aaa4b3f6da",
            "lmms_eval/tasks/refcocog/refcocog_bbox_val.yaml": "5a6290056d5d8fbee2d9c9931851865898f032f0",
        },
    },
    "omg-llava": {
        "repo": "lxtGH/OMG-Seg",
        "commit": "1ae2e7d446a607fddaefabf4ace312a2cdf7ab55",
        "out": "omg_llava_1ae2e7d.json",
        "blobs": {
            "omg_llava/omg_llava/tools/region_cap_mask_omg_seg_llava.py": "68911e51fa60a1b37a39855315361dffbf371f73",
            "omg_llava/omg_llava/dataset/utils/utils.py": "7b4a6cdd89e09c4f3a78fc2270b6c12cc5b6d77d",
            "omg_llava/xtuner/utils/templates.py": "da1d96d2c640f216c1c65a3804dcf92ead42dc14",
            "omg_llava/xtuner/utils/constants.py": "2862c8ab50bb3f811795f5b8aea0d991505d6a41",
        },
    },
    "perceptiongpt": {
        "repo": "pipilurj/perceptionGPT",
        "commit": "fd8e3eb1a3afdcbfcb9cbd8880f096a6b7951258",
        "out": "perceptiongpt_fd8e3eb.json",
        "blobs": {
            "mllm/conversation/__init__.py": "4eb9bdf74eec1dee51ff477ec6a56439b3831228",
            "mllm/conversation/base_conversation.py": "444568cf50de34b2d87c34c5f2762d73a724d9da",
            "mllm/dataset/root.py": "f9eccda77011f88ccfa15bf7e6e8ea92bc9ed0bc",
            "mllm/dataset/utils/mixin.py": "d8ca96daa53781ff38d28437850ff4e18f79307c",
            "mllm/dataset/single_image_dataset/pope.py": "648fcfd18c6d9455b5edc676f321a0101e84d328",
            "mllm/dataset/single_image_dataset/reg.py": "d5886f8795d769729f6a4f2a64f8cd7c93f21b1e",
            "mllm/dataset/process_function/shikra_process_function.py": "155829eb594368e101f8d92bb304f0e8e9e0616c",
            "mllm/dataset/process_function/box_process_function.py": "d2e9f9246849903f3744f86cf79c1f9cb55392a8",
            "config/_base_/dataset/DEFAULT_TEST_POPE_VARIANT.py": "07b501828ae05ccb78588f4cc12cca955dd4e119",
            "config/_base_/model/shikra.py": "0d2f34d508fb1571f569c6c0423f43fa221e7af4",
            "config/_base_/dataset/template/VQA.json": "746d367b20396fcf7a77b1483e8d328b843d7a3d",
            "mllm/engine/perception_trainer.py": "499d8b1ed321fa386e7b3a7819c3664cfd48a0cd",
            "config/_base_/dataset/template/REG.json": "2791ceb91586afa50470e4999d43187dbe861c3f",
            "mllm/dataset/single_image_dataset/vcr.py": "0c9e651b5d1d15bff30460259db843e008cd2b3e",
            "mllm/dataset/single_image_dataset/point_qa.py": "7150099eb060a06a27c062b28f21dd73786f35f2",
            "mllm/dataset/utils/compute_metrics.py": "dc67a0d9efac0a24fbb11a7f97117c1d495b58b5",
            "config/_base_/dataset/DEFAULT_TEST_VCR_VARIANT.py": "cd7eb9501617223b36e67100c6eaffbc061ab683",
            "config/_base_/dataset/DEFAULT_TEST_POINT_VARIANT.py": "f886d911340afe354f80074d2976657cc59f2a1a",
        },
    },
}

#: The vipbench fixtures used, as ``vipbench example-data KEY DIR --layout LAYOUT`` writes them.
FIXTURES = {
    "pope-rucaibox": ("pope", "rucaibox"),
    "pope-hf": ("pope", "hf"),
    "llava-bench-wild": ("llava-bench-wild", "hf"),
    "llava-bench-coco": ("llava-bench-coco", "llava"),
    "vip-bench": ("vip-bench", "official"),
    "v7w": ("v7w", "vip-llava"),
    "pointqa": ("pointqa", "vip-llava"),
    "vcr": ("vcr", "vip-llava"),
    "refcocog": ("refcocog", "hf"),
}

TOKENIZER_NOTE = (
    "Ids come from a stand-in tokenizer (no download): bos 1, eos 2, then one id per character, its code point. "
    "'ids' lists upstream's tokenizer_image_token output as runs: a list of ints for non-character ids (bos 1, "
    "the image -200), a string for a run of character ids."
)

# ---------------------------------------------------------------------------------------------------------------
# Predictions and judge replies: the inputs this script chooses (tricky on purpose). Everything else is upstream's.
# ---------------------------------------------------------------------------------------------------------------

#: POPE model outputs per setting, in the fixture's order (labels yes, no, yes, no, yes, no).
POPE_REPLIES = {
    "adversarial": ["Yes, there is", "No.", "yes and no", "", "I cannot tell", "There is no kite."],
    "popular": ["Yes", "no", "No, there is not a cat.", "Not sure.", "yes.", "NO"],
    "random": ["Yes, there is a dog. No doubt.", "There is not.", "no,", "No", "YES", "Nope"],
}
#: A setting where upstream's own arithmetic fails: nothing predicted yes.
POPE_ALL_NO = ["No"] * 6

LLAVA_BENCH_ANSWERS = [
    "It is ramen.",
    "A bowl of noodles on a wooden table.</s>",
    "The car is on the roof, which is unusual.",
    "Red.",
    "A cup, a plate and a fork.",
    "  Going on a trip.  ",
]
#: LLaVA-Bench review replies, one per fixture question, and a longer list for the score-pair parser alone.
LLAVA_BENCH_REVIEWS = ["8 7\nBoth are fine.", "8,7", "8  7\nSpaces.", "Score: 8 7", "I cannot rate these.", "9 6"]
LLAVA_BENCH_COCO_REVIEWS = ["7 8\nFine.", "8, 6", "garbage"]
SCORE_PAIRS = [
    "8 7",
    "8,7",
    "8, 7",
    "8  7",
    "Score: 8 7",
    "8 7\nAssistant 1 is more detailed.",
    "8.5 7.5",
    "10 10",
    " 8 7",
    "8 7 ",
    "",
    "garbage",
    "8\n7",
    "8/10 7/10",
]

#: ViP-Bench model outputs per fixture item (each unique, so the judge capture can tell the items apart).
VIP_BENCH_ANSWERS = [
    "x = 0.75",
    "A cat.</s>",
    " -1 and -5 ",
    "The cup is to the left of the plate.",
    "Un café sur la table ☕",
    "STOP",
    "It says Paris.",
    "There are 12 dots.",
]
#: ViP-Bench judge replies per item, in call order (the last one repeats if upstream asks again).
VIP_BENCH_GRADES = [
    ["0.8"],
    [" 0.8", "0.9"],
    ["1.0.", "1.0"],
    ["0.5\nbecause", "abc", "0.5"],
    ["abc"],
    ["1.5", "0.3"],
    ["0.0"],
    ["abc", "abc", "abc", "abc", "abc", "1.0"],
]
#: Single first replies for the grade parser; the re-ask (when upstream makes one) is answered "0.7".
VIP_BENCH_FIRST_REPLIES = [
    "0.8",
    " 0.8",
    "1.0.",
    "0.5\nbecause",
    "nan",
    "abc",
    "1.5",
    "0.8 because",
    "1",
    "-0.0",
    "0.30",
    "",
    "1.0\n",
    "inf",
    "0.5.",
    "0,5",
]

#: Exact-match scoring in model_vqa_loader_vip.py: outputs per fixture item, one scenario per row.
V7W_OUTPUTS = [["C", "A"], ["c", "a"], ["C.", "(A)"], [" C ", "A. The object within the red rectangle"], ["B", ""]]
POINTQA_OUTPUTS = [["3", "two"], ["three", "Two"], ["3.", "2"], [" 3 ", "two cows"], ["Three", "TWO"]]
VCR_QA_OUTPUTS = [["B", "A"], ["b", "a"], ["B.", "(A)"], ["The answer is B", " A\n"]]
VCR_QAR_OUTPUTS = [["A", "A"], ["a", "A."], ["B", "A"]]

#: Osprey RefCOCOg outputs (its ':' clean-up), three per run (the fixture has three regions).
OSPREY_CAPTIONS = [
    ["A man riding a horse.", "Region 1: two dogs playing in the snow.", "a red car</s>"],
    ["The region shows: a man: riding", "two dogs.  In the snow.", "  a red car  "],
    ["car:", ": a car", "a red car. It is parked."],
]
LMMS_REFCOCOG_PREDICTIONS = ["a man riding a horse", "Region 1: two dogs playing in the snow.", "a red car"]

SEEDS = 200  # seeded draws per item for the distribution of upstream's random choices

# ---------------------------------------------------------------------------------------------------------------
# Files, provenance
# ---------------------------------------------------------------------------------------------------------------


def git_blob_id(path: Path) -> str:
    data = path.read_bytes()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def sha256(text: str | bytes) -> str:
    return hashlib.sha256(text.encode() if isinstance(text, str) else text).hexdigest()


def check_checkout(name: str, root: Path) -> None:
    """Stop unless every file this script uses is the one at the pinned commit."""
    pin = UPSTREAM[name]
    for rel, blob in pin["blobs"].items():
        path = root / rel
        if not path.is_file():
            raise SystemExit(f"error: {root} has no {rel}: pass a checkout of {pin['repo']} at {pin['commit'][:7]}")
        if git_blob_id(path) != blob:
            raise SystemExit(f"error: {root / rel} is not the file at {pin['repo']}@{pin['commit'][:7]} (blob {blob})")


def provenance(name: str) -> dict[str, Any]:
    pin = UPSTREAM[name]
    return {"repo": pin["repo"], "commit": pin["commit"], "files": pin["blobs"]}


def environment() -> dict[str, str]:
    """The versions this data was made with (float formatting and a few printed reprs depend on them)."""
    versions = {"python": sys.version.split()[0]}
    for name in ("numpy", "torch", "transformers", "pandas", "PIL", "pycocotools", "shapely", "scipy"):
        try:
            versions[name] = str(importlib.import_module(name).__version__)
        except (ImportError, AttributeError):
            continue
    return versions


def src(name: str, *files: str, script: str | None = None) -> dict[str, Any]:
    """Where an entry came from: repository, commit, the shell script whose settings ran, the files that ran."""
    pin = UPSTREAM[name]
    out: dict[str, Any] = {"repo": pin["repo"], "commit": pin["commit"][:7]}
    if script:
        out["script"] = script
    out["files"] = list(files)
    return out


def write_fixtures(folder: Path) -> dict[str, Any]:
    """The example datasets, written by vipbench itself; their files' sha256 go into the data."""
    record: dict[str, Any] = {}
    for name, (key, layout) in FIXTURES.items():
        target = folder / name
        if not target.exists():
            command = [sys.executable, "-m", "vipbench", "example-data", key, str(target), "--layout", layout]
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        files = sorted(p for p in target.rglob("*") if p.is_file())
        record[name] = {
            "command": f"vipbench example-data {key} DIR --layout {layout}",
            "sha256": {str(p.relative_to(target)): sha256(p.read_bytes()) for p in files},
        }
    return record


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))


def clean(value: Any) -> Any:
    """JSON-safe: NaN and infinities as strings, tuples as lists, tensors as their shape."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        if len(value.shape) == 0:
            return clean(value.item())
        return {"shape": list(value.shape), "dtype": str(value.dtype)}
    if hasattr(value, "item") and callable(value.item):
        return clean(value.item())
    return value


# ---------------------------------------------------------------------------------------------------------------
# Shell scripts: the flags upstream's scripts pass
# ---------------------------------------------------------------------------------------------------------------


def script_flags(sh: Path, command: str, env: dict[str, str] | None = None) -> dict[str, list[str]]:
    """The flags the pinned shell script passes to ``command`` (a module or file), its variables expanded."""
    text = sh.read_text().replace("\\\n", " ")
    variables = dict(env or {})
    for line in text.splitlines():
        assignment = re.fullmatch(r"\s*(\w+)=(\S*)\s*", line)
        if assignment:
            variables[assignment[1]] = expand(assignment[2], variables)
            continue
        words = shlex.split(line, comments=True) if line.strip() else []
        if command not in words:
            continue
        flags: dict[str, list[str]] = {}
        current = None
        for word in words[words.index(command) + 1 :]:
            if word.startswith("-"):
                current = word
                flags[current] = []
            elif current is not None:
                flags[current].append(expand(word, variables))
        return flags
    raise SystemExit(f"error: {sh} does not run {command}")


def expand(value: str, variables: dict[str, str]) -> str:
    return re.sub(r"\$\{?(\w+)\}?", lambda m: variables.get(m[1], m[0]), value)


def argv_of(flags: dict[str, list[str]], replace: dict[str, str | list[str]]) -> list[str]:
    """The script's flags with the paths (and only the paths) swapped for the fixture's and a work folder's."""
    argv: list[str] = []
    for flag, values in flags.items():
        if flag in replace:
            new = replace[flag]
            values = new if isinstance(new, list) else [new]
        argv += [flag, *values]
    return argv


def kept_flags(flags: dict[str, list[str]], replaced: dict[str, Any]) -> dict[str, Any]:
    return {k: (v[0] if len(v) == 1 else v) for k, v in flags.items() if k not in replaced}


# ---------------------------------------------------------------------------------------------------------------
# Stand-ins for the model, the tokenizer, the GPU and the OpenAI client
# ---------------------------------------------------------------------------------------------------------------


class CodepointTokenizer:
    """A tokenizer vipbench can rebuild without a download: bos 1, then each character's code point."""

    bos_token_id = 1
    eos_token_id = 2
    pad_token_id = 0
    unk_token = "<unk>"
    pad_token = None

    def __call__(self, text: str, **_: Any) -> types.SimpleNamespace:
        return types.SimpleNamespace(input_ids=[self.bos_token_id] + [ord(c) for c in text])

    def batch_decode(self, rows: Any, skip_special_tokens: bool = True, **_: Any) -> list[str]:
        return ["".join(chr(i) for i in (r.tolist() if hasattr(r, "tolist") else r) if i > 2) for r in rows]

    def convert_tokens_to_ids(self, token: str) -> int:
        return self.eos_token_id

    def add_tokens(self, tokens: list[str], special_tokens: bool = False) -> int:
        return 0


def prompt_of(ids: list[int], image_index: int = -200) -> str:
    """The text behind stand-in ids (bos first): what upstream put in the prompt, ``<image>`` where the image goes."""
    assert ids[0] == CodepointTokenizer.bos_token_id, ids[:3]
    return "".join("<image>" if i == image_index else chr(i) for i in ids[1:])


def id_runs(ids: list[int]) -> list[Any]:
    runs: list[Any] = []
    for i in ids:
        if i > 2:
            if runs and isinstance(runs[-1], str):
                runs[-1] += chr(i)
            else:
                runs.append(chr(i))
        elif runs and isinstance(runs[-1], list):
            runs[-1].append(i)
        else:
            runs.append([i])
    return runs


class FakeModel:
    """Stands in for the checkpoint: records each generate call and answers with the next scripted output."""

    def __init__(self, echo_prompt: bool = False) -> None:
        self.config = types.SimpleNamespace(mm_use_im_start_end=False, image_aspect_ratio="pad")
        self.model = types.SimpleNamespace()
        self.echo_prompt = echo_prompt  # Osprey's generate returns the prompt ids too; LLaVA's only the new ones
        self.replies: list[str] = []
        self.calls: list[dict[str, Any]] = []

    def script(self, replies: list[str]) -> None:
        self.replies = list(replies)
        self.calls = []

    def generate(self, inputs: Any = None, images: Any = None, **kwargs: Any) -> Any:
        import torch

        ids = inputs[0].tolist()
        if not self.replies:
            raise RuntimeError("the stand-in model ran out of scripted outputs")
        reply = self.replies.pop(0)
        settings = {k: clean(v) for k, v in kwargs.items() if k not in {"image_sizes", "eos_token_id"}}
        call = {"ids": ids, "images": clean(images), "settings": settings}
        if "image_sizes" in kwargs:
            call["image_sizes"] = clean(kwargs["image_sizes"])
        bound = getattr(self.forward, "keywords", None)  # Osprey binds its masks to forward before generate
        if bound and bound.get("masks") is not None:
            call["masks"] = [{**clean(m), "pixels_on": int(m.sum().item())} for m in bound["masks"]]
        self.calls.append(call)
        out = (ids if self.echo_prompt else []) + [ord(c) for c in reply]
        return torch.tensor([out], dtype=torch.long)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the stand-in model only generates")

    def cuda(self) -> FakeModel:
        return self

    def modules(self) -> list[Any]:
        return [self]

    def get_vision_tower(self) -> Any:
        return types.SimpleNamespace(is_loaded=True, to=lambda **_: None)


class ChatCapture:
    """The pre-1.0 ``openai.ChatCompletion``: records each request, answers from ``reply(request)``."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.reply: Callable[[dict[str, Any]], str] = lambda _: ""

    def create(self, **request: Any) -> dict[str, Any]:
        content = self.reply(request)
        self.calls.append({"request": copy.deepcopy(request), "reply": content})
        return {"model": "capture", "choices": [{"message": {"role": "assistant", "content": content}}]}


def module(name: str, **attrs: Any) -> types.ModuleType:
    mod = types.ModuleType(name)
    mod.__dict__.update(attrs)
    sys.modules[name] = mod
    parent, _, child = name.rpartition(".")
    if parent in sys.modules:
        setattr(sys.modules[parent], child, mod)
    return mod


def package(root: Path, name: str) -> None:
    """Register ``name`` as the package at root/name without running its __init__ (which loads the model code)."""
    module(name, __path__=[str(root / name.replace(".", "/"))])


def cpu_torch() -> None:
    """Tensors that upstream sends to 'cuda' stay on the CPU."""
    import torch

    torch.Tensor.cuda = lambda self, *a, **k: self  # type: ignore[method-assign]
    to = torch.Tensor.to

    def to_cpu(self: Any, *args: Any, **kwargs: Any) -> Any:
        if str(kwargs.get("device", "")).startswith("cuda"):
            kwargs.pop("device")
        args = tuple(a for a in args if not (isinstance(a, str) and a.startswith("cuda")))
        return to(self, *args, **kwargs)

    torch.Tensor.to = to_cpu  # type: ignore[method-assign]


def clip_processor(size: int = 336) -> Any:
    """CLIP ViT-L/14-336's image processor settings (openai/clip-vit-large-patch14-336), built without a download."""
    from transformers import CLIPImageProcessor

    return CLIPImageProcessor(size={"shortest_edge": size}, crop_size={"height": size, "width": size})


def install_llava(root: Path, model: FakeModel, chat: ChatCapture) -> None:
    sys.path.insert(0, str(root))
    cpu_torch()
    package(root, "llava")
    module("llava.model", __path__=[])
    tokenizer = CodepointTokenizer()
    module("llava.model.builder", load_pretrained_model=lambda *a, **k: (tokenizer, model, clip_processor(), 2048))
    error = types.SimpleNamespace(RateLimitError=type("RateLimitError", (Exception,), {}))
    module("openai", ChatCompletion=types.SimpleNamespace(create=chat.create), error=error)


@contextlib.contextmanager
def argv_cwd(argv: list[str], cwd: Path | None) -> Any:
    old_argv, old_cwd = sys.argv, os.getcwd()
    sys.argv = argv
    if cwd:
        os.chdir(cwd)
    try:
        yield
    finally:
        sys.argv = old_argv
        os.chdir(old_cwd)


def run_main(path: Path, argv: list[str], cwd: Path | None = None) -> tuple[dict[str, Any], str]:
    """Run an upstream file as ``python path argv...`` does; returns its globals and what it printed."""
    out = io.StringIO()
    with argv_cwd([str(path), *argv], cwd), contextlib.redirect_stdout(out):
        scope = runpy.run_path(str(path), run_name="__main__")
    return scope, out.getvalue()


def load(path: Path, name: str) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def trim_ids(data: Any) -> Any:
    """Keep the id runs on the first item of each list only: they repeat the prompt, the layout is what matters."""
    if isinstance(data, dict):
        return {k: trim_ids(v) for k, v in data.items()}
    if isinstance(data, list):
        items = [trim_ids(v) for v in data]
        if items and all(isinstance(v, dict) for v in items):
            items = [items[0]] + [{k: v for k, v in item.items() if k != "ids"} for item in items[1:]]
        return items
    return data


def prompt_record(call: dict[str, Any]) -> dict[str, Any]:
    return {"prompt": prompt_of(call["ids"]), "ids": id_runs(call["ids"])}


def one_setting(calls: list[dict[str, Any]]) -> dict[str, Any]:
    """The decoding settings every call of a run shared (upstream passes the same ones each time)."""
    settings = [c["settings"] for c in calls]
    assert all(s == settings[0] for s in settings), settings
    return settings[0]


def judge_message(text: str, prose: dict[str, str]) -> dict[str, Any]:
    """A judge message as data: its sha256 and length, and its text with each upstream prose block as {name}."""
    template = text.replace("{", "{{").replace("}", "}}")
    for name, block in prose.items():
        if block and block in text:
            template = template.replace(block.replace("{", "{{").replace("}", "}}"), "{" + name + "}")
    return {"sha256": sha256(text), "chars": len(text), "template": template}


def prose_record(prose: dict[str, str]) -> dict[str, Any]:
    return {name: {"sha256": sha256(text), "chars": len(text)} for name, text in prose.items()}


# ---------------------------------------------------------------------------------------------------------------
# LLaVA-1.5 style pipelines (LLaVA and ViP-LLaVA carry the same files, with small differences)
# ---------------------------------------------------------------------------------------------------------------


def pope_question_file(fx: Path, work: Path) -> tuple[Path, list[dict[str, Any]]]:
    """LLaVA's llava_pope_test.jsonl, from the fixture's RUCAIBox files.

    The real file ships in LLaVA's eval.zip, not in the repository: one line per POPE question, ``text`` = the
    question + LLaVA's short-answer suffix, ``category`` = the setting, ids unique across settings. Built here the
    same way from the fixture, settings in sorted order."""
    rows = []
    for setting in sorted(POPE_REPLIES):
        for line in read_jsonl(fx / "pope-rucaibox/output/coco" / f"coco_pope_{setting}.json"):
            rows.append(
                {
                    "question_id": len(rows),
                    "image": line["image"],
                    "text": line["text"] + "\nAnswer the question using a single word or phrase.",
                    "category": setting,
                    "_fixture_id": line["question_id"],
                    "_label": line["label"],
                }
            )
    path = work / "llava_pope_test.jsonl"
    write_jsonl(path, [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows])
    return path, rows


def parse_pope_report(text: str) -> dict[str, Any]:
    """eval_pope.py's printout, per category."""
    out: dict[str, Any] = {}
    category = None
    names = {
        "Accuracy": "accuracy",
        "Precision": "precision",
        "Recall": "recall",
        "F1 score": "f1",
        "Yes ratio": "yes_ratio",
    }
    lines = text.splitlines()
    for i, line in enumerate(lines):
        head = re.match(r"Category: (\w+), # samples: (\d+)", line)
        if head:
            category = head[1]
            out[category] = {"samples": int(head[2])}
            continue
        if category is None:
            continue
        if line.startswith("TP\tFP"):
            tp, fp, tn, fn = (int(x) for x in lines[i + 1].split("\t"))
            out[category].update(tp=tp, fp=fp, tn=tn, fn=fn)
        for label, key in names.items():
            if line.startswith(label + ": "):
                out[category][key] = float(line.split(": ", 1)[1])
        if re.fullmatch(r"[\d.]+(, [\d.]+){4}", line):
            out[category]["printed"] = line
    return out


def llava_pope(name: str, root: Path, fx: Path, work: Path, model: FakeModel) -> dict[str, Any]:
    """pope.sh: model_vqa_loader.py with the script's flags, then eval_pope.py on what it wrote."""
    sh = root / "scripts/v1_5/eval/pope.sh"
    questions, rows = pope_question_file(fx, work)
    answers = work / "pope_answers.jsonl"
    flags = script_flags(sh, "llava.eval.model_vqa_loader", {"model_name": "mucai/vip-llava-7b"})
    paths = {"--question-file": str(questions), "--image-folder": str(fx / "pope-rucaibox/val2014")}
    paths["--answers-file"] = str(answers)
    if name == "vip-llava":
        paths["--model-path"] = "mucai/vip-llava-7b"  # the script takes ./checkpoints/$1
    model.script([POPE_REPLIES[r["category"]][i % 6] for i, r in enumerate(rows)])
    run_main(root / "llava/eval/model_vqa_loader.py", argv_of(flags, paths))
    calls = model.calls
    written = read_jsonl(answers)

    eval_flags = script_flags(sh, "llava/eval/eval_pope.py")
    eval_paths = {"--annotation-dir": str(fx / "pope-rucaibox/output/coco"), "--question-file": str(questions)}
    eval_paths["--result-file"] = str(answers)
    scope, printed = run_main(root / "llava/eval/eval_pope.py", argv_of(eval_flags, eval_paths))
    parsed = {a["question_id"]: a["text"] for a in scope["answers"]}
    items = []
    for row, call, answer in zip(rows, calls, written):
        item = {
            "question_id": row["question_id"],
            "setting": row["category"],
            "fixture_question_id": row["_fixture_id"],
            "label": row["_label"],
            **prompt_record(call),
            "output": answer["text"],
            "parsed": parsed[row["question_id"]],
        }
        items.append(item)

    # A setting where nothing is predicted yes: upstream's precision divides by zero.
    eval_pope = scope["eval_pope"]
    label_file = fx / "pope-rucaibox/output/coco/coco_pope_random.json"
    try:
        with contextlib.redirect_stdout(io.StringIO()) as out:
            eval_pope([{"text": t} for t in POPE_ALL_NO], str(label_file))
        all_no: dict[str, Any] = {"printed": out.getvalue()}
    except Exception as error:  # noqa: BLE001 - the failure is the datum
        all_no = {"error": f"{type(error).__name__}: {error}"}
    return {
        "source": src(
            name,
            "llava/eval/model_vqa_loader.py",
            "llava/conversation.py",
            "llava/mm_utils.py",
            "llava/eval/eval_pope.py",
            script="scripts/v1_5/eval/pope.sh",
        ),
        "question_file": "llava_pope_test.jsonl as LLaVA's eval.zip lays it out (not in the repository): each "
        "fixture line's text + '\\nAnswer the question using a single word or phrase.', category = setting",
        "flags": kept_flags(flags, paths),
        "decoding": one_setting(calls),
        "image_tensor": calls[0]["images"],
        "items": items,
        "scores": parse_pope_report(printed),
        "all_no_setting": {"outputs": POPE_ALL_NO, "labels_from": "coco_pope_random.json", **all_no},
    }


def llava_bench_answers(
    name: str, root: Path, questions: Path, images: Path, work: Path, model: FakeModel, tag: str
) -> tuple[dict[str, Any], Path]:
    """llavabench.sh's first step: model_vqa.py with the script's flags."""
    sh = root / "scripts/v1_5/eval/llavabench.sh"
    flags = script_flags(sh, "llava.eval.model_vqa")
    answers = work / f"{tag}_answers.jsonl"
    paths = {"--question-file": str(questions), "--image-folder": str(images), "--answers-file": str(answers)}
    if name == "vip-llava":
        paths["--model-path"] = "mucai/vip-llava-7b"  # the script takes ./checkpoints/$1
    rows = read_jsonl(questions)
    model.script(LLAVA_BENCH_ANSWERS[: len(rows)])
    run_main(root / "llava/eval/model_vqa.py", argv_of(flags, paths))
    written = read_jsonl(answers)
    items = [
        {"question_id": r["question_id"], "category": r["category"], **prompt_record(c), "output": a["text"]}
        for r, c, a in zip(rows, model.calls, written)
    ]
    record = {
        "source": src(
            name, "llava/eval/model_vqa.py", "llava/conversation.py", script="scripts/v1_5/eval/llavabench.sh"
        ),
        "flags": kept_flags(flags, paths),
        "decoding": one_setting(model.calls),
        "items": items,
    }
    return record, answers


def parse_summary(text: str) -> dict[str, Any]:
    """summarize_gpt_review.py's printout: per category the relative score and both means x 10."""
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 4:
            out[parts[0]] = {
                "relative": float(parts[1]),
                "reference_x10": float(parts[2]),
                "model_x10": float(parts[3]),
            }
    return out


def llava_bench_review(
    root: Path,
    script: str,
    questions: Path,
    context: Path,
    reference: Path,
    answers: Path,
    work: Path,
    chat: ChatCapture,
    replies: list[str],
    tag: str,
) -> dict[str, Any]:
    """eval_gpt_review_bench.py (or _visual.py for COCO) with rule.json, then summarize_gpt_review.py."""
    rules = json.loads((root / "llava/eval/table/rule.json").read_text())
    reviews = work / f"{tag}_reviews.jsonl"
    queue = list(replies)
    chat.calls = []
    chat.reply = lambda _: queue.pop(0)
    argv = ["--question", str(questions), "--context", str(context), "--rule", str(root / "llava/eval/table/rule.json")]
    argv += ["--answer-list", str(reference), str(answers), "--output", str(reviews)]
    run_main(root / script, argv)
    written = read_jsonl(reviews)
    _, summary = run_main(root / "llava/eval/summarize_gpt_review.py", ["-f", str(reviews)])
    items = []
    for call, review in zip(chat.calls, written):
        request = dict(call["request"])
        system, user = request.pop("messages")
        rule = rules[review["category"]]
        items.append(
            {
                "question_id": review["question_id"],
                "rule": review["category"],
                "request": request,
                "system": judge_message(system["content"], {"system": system["content"]}),
                "user": judge_message(user["content"], {"rule_prompt": rule["prompt"]}),
                "reply": call["reply"],
                "tuple": review["tuple"],
            }
        )
    system_text = chat.calls[0]["request"]["messages"][0]["content"]
    used = sorted({i["rule"] for i in items})
    return {
        "source": src("llava", script, "llava/eval/table/rule.json", "llava/eval/summarize_gpt_review.py"),
        "system_message": {"sha256": sha256(system_text), "chars": len(system_text)},
        "rule_prompts": {k: {"role": rules[k]["role"], **prose_record({"p": rules[k]["prompt"]})["p"]} for k in used},
        "items": items,
        "summary": parse_summary(summary),
    }


def job_llava(root: Path, fx: Path, work: Path) -> dict[str, Any]:
    model, chat = FakeModel(), ChatCapture()
    install_llava(root, model, chat)
    out: dict[str, Any] = {"upstream": provenance("llava"), "tokenizer": TOKENIZER_NOTE}
    out["pope"] = llava_pope("llava", root, fx, work, model)

    wild = fx / "llava-bench-wild"
    record, answers = llava_bench_answers("llava", root, wild / "questions.jsonl", wild / "images", work, model, "wild")
    record["review"] = llava_bench_review(
        root,
        "llava/eval/eval_gpt_review_bench.py",
        wild / "questions.jsonl",
        wild / "context.jsonl",
        wild / "answers_gpt4.jsonl",
        answers,
        work,
        chat,
        LLAVA_BENCH_REVIEWS,
        "wild",
    )
    out["llava_bench_wild"] = record

    coco = fx / "llava-bench-coco"
    images = work / "coco_images"  # qa90 names images 000000296284.jpg; the fixture keeps COCO's file names
    images.mkdir(exist_ok=True)
    for row in read_jsonl(coco / "qa90_questions.jsonl"):
        target = images / row["image"]
        if not target.exists():
            target.symlink_to(coco / "val2014" / f"COCO_val2014_{row['image']}")
    record, answers = llava_bench_answers("llava", root, coco / "qa90_questions.jsonl", images, work, model, "coco")
    record["note"] = "LLaVA-1.5 has no script for LLaVA-Bench (COCO): model_vqa.py with llavabench.sh's flags"
    record["review"] = llava_bench_review(
        root,
        "llava/eval/eval_gpt_review_visual.py",
        coco / "qa90_questions.jsonl",
        coco / "caps_boxes_coco2014_val_80.jsonl",
        coco / "qa90_gpt4_answer.jsonl",
        answers,
        work,
        chat,
        LLAVA_BENCH_COCO_REVIEWS,
        "coco",
    )
    out["llava_bench_coco"] = record

    review = load(root / "llava/eval/eval_gpt_review_bench.py", "upstream_review")
    with contextlib.redirect_stdout(io.StringIO()):
        pairs = [{"reply": r, "tuple": review.parse_score(r)} for r in SCORE_PAIRS]
    out["review_score_parsing"] = {"source": src("llava", "llava/eval/eval_gpt_review_bench.py"), "cases": pairs}
    return out


# ---------------------------------------------------------------------------------------------------------------
# ViP-LLaVA
# ---------------------------------------------------------------------------------------------------------------

RNG_METHODS = {"random", "choice", "choices", "randint", "uniform", "sample", "shuffle"}


class RandomLog:
    """Stands in for ``random`` inside one upstream module: every call goes to the real module (same state, so
    ``random.seed`` draws exactly what upstream draws) and is logged with what it drew from, and where."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.calls: list[dict[str, Any]] = []

    def __getattr__(self, name: str) -> Any:
        real = getattr(random, name)
        if name not in RNG_METHODS:
            return real

        def logged(*args: Any, **kwargs: Any) -> Any:
            result = real(*args, **kwargs)
            frame = sys._getframe(1)
            self.calls.append(self.describe(name, args, kwargs, result, frame))
            return result

        return logged

    def describe(self, name: str, args: tuple, kwargs: dict, result: Any, frame: Any) -> dict[str, Any]:
        path = Path(frame.f_code.co_filename)
        line = linecache.getline(str(path), frame.f_lineno)
        call: dict[str, Any] = {
            "site": f"{path.relative_to(self.root)}:{frame.f_lineno} {frame.f_code.co_name}",
            "method": name,
        }
        if name == "random":
            threshold = re.search(r"random\.random\(\)\s*<\s*([0-9.]+)", line)
            if threshold:
                call["p"] = float(threshold[1])
                call["below_p"] = result < float(threshold[1])
            else:
                call["value"] = result
        elif name in {"choice", "choices"}:
            population = args[0]
            call["population"] = [label(x) for x in population]
            if name == "choices":
                call["k"] = kwargs.get("k", args[1] if len(args) > 1 else 1)
                call["result"] = [label(x) for x in result]
            else:
                call["result"] = label(result)
        else:
            call["args"] = clean(list(args))
            call["result"] = clean(result)
        return call


def label(x: Any) -> Any:
    """A colour pool entry (name, rgb) by its name; anything else as itself."""
    if isinstance(x, tuple) and len(x) == 2 and isinstance(x[0], str):
        return x[0]
    return clean(x)


def summarise_draws(logs: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Per call site over many seeds: how often a threshold was met; what a choice drew from and returned, and
    whether the draws at one site within one sample were all different."""
    sites: dict[tuple[str, str], dict[str, Any]] = {}
    for log in logs:
        seen: dict[tuple[str, str], list[str]] = {}
        for call in log:
            key = (call["site"], call["method"])
            site = sites.setdefault(key, {"site": call["site"], "method": call["method"], "calls": 0})
            site["calls"] += 1
            if "p" in call:
                site["p"] = call["p"]
                site["below_p"] = site.get("below_p", 0) + int(call["below_p"])
            elif "population" in call:
                site.setdefault("largest_population", call["population"])
                if len(call["population"]) > len(site["largest_population"]):
                    site["largest_population"] = call["population"]
                sizes = site.setdefault("population_sizes", Counter())
                sizes[str(len(call["population"]))] += 1
                result = call["result"] if isinstance(call["result"], str) else json.dumps(call["result"])
                site.setdefault("results", Counter())[result] += 1
                seen.setdefault(key, []).append(result)
        for key, results in seen.items():
            distinct = len(set(results)) == len(results)
            sites[key]["distinct_within_sample"] = sites[key].get("distinct_within_sample", True) and distinct
    out = []
    for site in sites.values():
        for name in ("population_sizes", "results"):
            if name in site:
                site[name] = dict(sorted(site[name].items()))
        out.append(site)
    return out


VIP_SCRIPTS = {
    "v7w": ("scripts/eval/v7w.sh", "v7w", "v7w-test.json", V7W_OUTPUTS),
    "pointqa": ("scripts/eval/pointQA.sh", "pointqa", "pointQA_twice_test.json", POINTQA_OUTPUTS),
    "vcr_qa": ("scripts/eval/vcr_qa.sh", "vcr", "vcr-val.json", VCR_QA_OUTPUTS),
    "vcr_qar": ("scripts/eval/vcr_qar.sh", "vcr", "vcr-val.json", VCR_QAR_OUTPUTS),
}


def render_check(folder: Path, image_folder: Path, questions: list[dict], flags: dict) -> list[dict[str, Any]]:
    """vip_processor on each item, once, in this process: the loader retries a failure 100 times in its workers
    and then silently evaluates a random other item instead, so a failure is looked for here first."""
    import llava.visual_prompt_organizer as organizer
    from PIL import Image

    settings = {k.lstrip("-"): v[0] for k, v in flags.items() if v}
    data_args = argparse.Namespace(
        visual_prompt_style=settings.get("visual_prompt_style"), image_folder=str(image_folder), alpha=128
    )
    out = []
    for line in questions:
        image = Image.open(image_folder / line["image"]).convert("RGB")
        random.seed(0)
        try:
            organizer.vip_processor(copy.deepcopy(line), image, image_size_anchor=336, data_args=data_args)
            out.append({"id": line["id"], "renders": True})
        except Exception as error:  # noqa: BLE001 - the failure is the datum
            frame = error.__traceback__
            while frame.tb_next:
                frame = frame.tb_next
            where = f"{Path(frame.tb_frame.f_code.co_filename).name}:{frame.tb_lineno} {frame.tb_frame.f_code.co_name}"
            out.append({"id": line["id"], "renders": False, "error": f"{type(error).__name__}: {error}", "at": where})
    return out


def renderable_vcr(folder: Path, work: Path) -> tuple[Path, list[int]]:
    """A copy of the VCR fixture in which every object has a polygon (its box), so upstream can draw its point.

    Upstream's draw_point reads the object's polygon unconditionally; an object without one (the fixture's third
    object has "segms": []) fails every time. The text upstream builds does not depend on the polygon."""
    copy_dir = work / "vcr-renderable"
    if not copy_dir.exists():
        shutil.copytree(folder, copy_dir)
    changed = []
    for meta_path in copy_dir.rglob("*.json"):
        meta = json.loads(meta_path.read_text())
        if not isinstance(meta, dict) or "segms" not in meta:
            continue
        for index, (box, segms) in enumerate(zip(meta["boxes"], meta["segms"])):
            if not any(len(polygon) >= 4 for polygon in segms):
                x1, y1, x2, y2 = box[:4]
                meta["segms"][index] = [*segms, [[x1, y1], [x2, y1], [x2, y2], [x1, y2]]]
                changed.append(index)
        meta_path.write_text(json.dumps(meta))
    return copy_dir, changed


def vip_task(root: Path, fx: Path, work: Path, model: FakeModel, task: str) -> dict[str, Any]:
    """model_vqa_loader_vip.py as the task's script runs it: prompts, decoding, and the exact-match accuracy."""
    import torch

    sh, fixture, filename, scenarios = VIP_SCRIPTS[task]
    path = root / "llava/eval/model_vqa_loader_vip.py"
    flags = script_flags(root / sh, "llava/eval/model_vqa_loader_vip.py")
    folder = fx / fixture
    questions = json.loads((folder / filename).read_text())
    image_folder = folder / "images" if (folder / "images").is_dir() else folder
    record: dict[str, Any] = {"render_check": render_check(folder, image_folder, questions, flags)}
    if fixture == "vcr":
        folder, changed = renderable_vcr(folder, work)
        image_folder = folder
        record["fixture_change"] = (
            f"objects {changed} have no polygon in the fixture, which upstream cannot draw as a point (render_check); "
            "the runs below read a copy where those objects have their box as polygon (the text does not depend on it)"
        )
        record["render_check_after_change"] = render_check(folder, image_folder, questions, flags)
    if not all(r["renders"] for r in record.get("render_check_after_change", record["render_check"])):
        raise SystemExit(f"error: upstream cannot render every {task} item: {record}")
    paths = {"--question-file": str(folder / filename), "--image-folder": str(image_folder)}
    paths["--answers-file"] = str(Path(tempfile.mkdtemp(dir=work)) / "answers.json")

    runs = []
    for outputs in scenarios:
        torch.manual_seed(0)  # the DataLoader workers seed `random` from torch's generator; upstream sets no seed
        model.script(outputs)
        _, printed = run_main(path, argv_of(flags, paths))
        accuracy = [float(x) for x in re.findall(r"^Accuracy: ([\d.e-]+)$", printed, flags=re.M)]
        assert len(accuracy) == len(questions), printed
        right = [round(a * (i + 1)) - round((accuracy[i - 1] * i) if i else 0) == 1 for i, a in enumerate(accuracy)]
        runs.append({"outputs": outputs, "right": right, "accuracy": accuracy[-1], "calls": model.calls})
    first = runs[0]["calls"]
    items = []
    for i, line in enumerate(questions):
        draw = seeded_draw(root, path, image_folder, line, flags, seed=0)
        items.append(
            {
                "id": line["id"],
                "script_run": {**prompt_record(first[i]), "image_tensor": first[i]["images"]},
                "seed_0": draw,
                "distribution": distribution(root, path, image_folder, line, flags),
            }
        )
    return {
        "source": src(
            "vip-llava",
            "llava/eval/model_vqa_loader_vip.py",
            "llava/visual_prompt_organizer.py",
            "llava/visual_prompt_generator.py",
            "llava/conversation.py",
            "llava/mm_utils.py",
            script=sh,
        ),
        "flags": kept_flags(flags, paths),
        "decoding": one_setting([c for r in runs for c in r["calls"]]),
        "script_run_seeding": "torch.manual_seed(0) before each run: the DataLoader's 4 workers seed python's random "
        "from torch's generator (base seed + worker id); upstream seeds nothing, so its draws differ run to run",
        **record,
        "items": items,
        "scoring": [{k: r[k] for k in ("outputs", "right", "accuracy")} for r in runs],
    }


_LOADER: dict[str, Any] = {}


def loader_dataset(root: Path, path: Path, flags: dict[str, list[str]], image_folder: Path, line: dict) -> Any:
    """model_vqa_loader_vip.py's CustomDataset over one item, with the script's arguments."""
    if "module" not in _LOADER:
        _LOADER["module"] = load(path, "upstream_vip_loader")
        organizer = sys.modules["llava.visual_prompt_organizer"]
        _LOADER["log"] = RandomLog(root)
        organizer.random = _LOADER["log"]  # type: ignore[attr-defined]
    mod = _LOADER["module"]
    settings = {k.lstrip("-").replace("-", "_"): v[0] for k, v in flags.items() if v}
    args = argparse.Namespace(
        conv_mode="llava_v1",
        alpha=int(settings.get("alpha", 128)),
        image_aspect_ratio=settings.get("image_aspect_ratio"),
        visual_prompt_style=settings.get("visual_prompt_style"),
        image_folder=str(image_folder),
    )
    mod.args = args  # __getitem__ reads the script's global `args`
    return mod.CustomDataset(
        [copy.deepcopy(line)], str(image_folder), CodepointTokenizer(), clip_processor(), FakeModel().config, args
    )


def seeded_draw(root: Path, path: Path, image_folder: Path, line: dict, flags: dict, seed: int) -> dict:
    dataset = loader_dataset(root, path, flags, image_folder, line)
    log = _LOADER["log"]
    log.calls = []
    random.seed(seed)
    input_ids, _, gt = dataset[0]
    return {"seed": seed, **prompt_record({"ids": input_ids.tolist()}), "gt": gt, "rng_calls": list(log.calls)}


def distribution(root: Path, path: Path, image_folder: Path, line: dict, flags: dict) -> dict:
    draws = [seeded_draw(root, path, image_folder, line, flags, seed) for seed in range(SEEDS)]
    return {
        "seeds": f"random.seed(0..{SEEDS - 1})",
        "distinct_prompts": len({d["prompt"] for d in draws}),
        "sites": summarise_draws([d["rng_calls"] for d in draws]),
    }


def colour_pool_record(root: Path) -> dict[str, Any]:
    """The colour and shape vocabulary, and get_color_shape on more objects than there are named colours."""
    generator = sys.modules["llava.visual_prompt_generator"]
    organizer = sys.modules["llava.visual_prompt_organizer"]
    log = _LOADER["log"]
    log.calls = []
    random.seed(0)
    many = organizer.get_color_shape(list(range(11)), ["point"], list(generator.color_pool.items()))
    return {
        "source": src("vip-llava", "llava/visual_prompt_generator.py", "llava/visual_prompt_organizer.py"),
        "color_pool": {k: list(v) for k, v in generator.color_pool.items()},
        "words_shape": generator.words_shape,
        "eleven_points_seed_0": {
            "call": "get_color_shape(list(range(11)), ['point'], list(color_pool.items()))",
            "result": {str(k): [v[0], list(v[1]), v[2]] for k, v in many.items()},
            "rng_calls": list(log.calls),
        },
    }


def vip_bench_prompts(root: Path, fx: Path, work: Path, model: FakeModel, split: str) -> tuple[dict, Path]:
    """vipbench.sh: model_vqa.py on the split, then convert_vipbench_for_eval.py (the upload format)."""
    sh = root / "scripts/eval/vipbench.sh"
    flags = script_flags(sh, "llava.eval.model_vqa", {"1": split})
    folder = fx / "vip-bench" / split
    answers = work / f"vip-bench-{split}.jsonl"
    paths = {"--question-file": str(folder / "questions.jsonl"), "--image-folder": str(folder / "images")}
    paths["--answers-file"] = str(answers)
    rows = read_jsonl(folder / "questions.jsonl")
    model.script(VIP_BENCH_ANSWERS[: len(rows)])
    run_main(root / "llava/eval/model_vqa.py", argv_of(flags, paths))
    written = read_jsonl(answers)
    results = work / f"vip-llava-7b-{split}.json"
    convert = script_flags(sh, "scripts/convert_vipbench_for_eval.py")
    run_main(
        root / "scripts/convert_vipbench_for_eval.py", argv_of(convert, {"--src": str(answers), "--dst": str(results)})
    )
    items = [
        {"question_id": r["question_id"], **prompt_record(c), "output": a["text"]}
        for r, c, a in zip(rows, model.calls, written)
    ]
    record = {
        "source": src(
            "vip-llava",
            "llava/eval/model_vqa.py",
            "llava/conversation.py",
            "scripts/convert_vipbench_for_eval.py",
            script="scripts/eval/vipbench.sh",
        ),
        "flags": kept_flags(flags, paths),
        "decoding": one_setting(model.calls),
        "image_tensor": model.calls[0]["images"],
        "items": items,
        "upload_file": results.read_text(),
    }
    return record, results


def run_vip_evaluator(
    root: Path, fx: Path, work: Path, chat: ChatCapture, split: str, results: Path, grades: dict
) -> dict:
    """scripts/eval/vip-bench_evaluator.py on the fixture, its three settings set for a local run.

    The script has no flags: its first lines are settings to edit. Set here: vipbench_split (the split run),
    use_azure_openai = False (so it calls model="gpt-4-0613", its OpenAI path). Paths stay as written; the run's
    folder holds ./playground/data/eval/ViP-Bench (the fixture) with results/vip-llava-7b-{split}.json."""
    run_dir = Path(tempfile.mkdtemp(dir=work))
    bench = run_dir / "playground/data/eval/ViP-Bench"
    shutil.copytree(fx / "vip-bench", bench)
    (bench / "results").mkdir()
    shutil.copy(results, bench / "results" / f"vip-llava-7b-{split}.json")
    path = root / "scripts/eval/vip-bench_evaluator.py"
    text = path.read_text()
    settings = {
        "vipbench_split = 'human' # 'bbox'": f"vipbench_split = {split!r}",
        "use_azure_openai = True": "use_azure_openai = False",
    }
    for old, new in settings.items():
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    predictions = json.loads(results.read_text())
    served: dict[str, int] = Counter()

    def reply(request: dict[str, Any]) -> str:
        content = request["messages"][0]["content"]
        key = next(k for k, pred in predictions.items() if f" | {pred} | " in content)
        seq = grades[key]
        answer = seq[min(served[key], len(seq) - 1)]
        served[key] += 1
        return answer

    chat.calls = []
    chat.reply = reply
    scope: dict[str, Any] = {"__name__": "__main__", "__file__": str(path)}
    out = io.StringIO()
    with argv_cwd([str(path)], run_dir), contextlib.redirect_stdout(out):
        exec(compile(text, str(path), "exec"), scope)  # noqa: S102 - upstream's script, as `python` runs it
    grade_file = bench / "results" / f"vip-llava-7b-{split}_gpt-4-0613-grade-1runs.json"
    cap = bench / "results" / f"vip-llava-7b-{split}_gpt-4-0613-cap-score-1runs.csv"
    cap_int = bench / "results" / f"vip-llava-7b-{split}_gpt-4-0613-cap-int-score-1runs.csv"
    return {
        "scope": scope,
        "calls": list(chat.calls),
        "grades": json.loads(grade_file.read_text()),
        "cap_score": read_csv(cap),
        "cap_int_score": read_csv(cap_int),
        "settings_changed": settings,
    }


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


def vip_bench_judge(root: Path, fx: Path, work: Path, chat: ChatCapture, split: str, results: Path) -> dict:
    predictions = json.loads(results.read_text())
    keys = list(predictions)
    grades = {k: VIP_BENCH_GRADES[i] for i, k in enumerate(keys)}
    run = run_vip_evaluator(root, fx, work, chat, split, results, grades)
    prompt = run["scope"]["prompt"]
    meta = json.loads((fx / "vip-bench/vip-bench-meta-data.json").read_text())
    items = []
    for key in keys:
        calls = [c for c in run["calls"] if f" | {predictions[key]} | " in c["request"]["messages"][0]["content"]]
        requests = []
        for call in calls:
            request = dict(call["request"])
            (message,) = request.pop("messages")
            assert message["role"] == "user"
            requests.append(
                {**request, "user": judge_message(message["content"], {"prompt": prompt}), "reply": call["reply"]}
            )
        grade = run["grades"][key]
        items.append(
            {
                "id": key,
                "capability": meta[key]["capability"],
                "calls": requests,
                "score": clean(grade["score"][0]),
                "stored_content": grade["content"][0],
            }
        )
    return {
        "source": src("vip-llava", "scripts/eval/vip-bench_evaluator.py"),
        "settings_changed": run["settings_changed"],
        "prompt": prose_record({"prompt": prompt})["prompt"],
        "messages": "one user message per call, no system message; user = {prompt} + '\\n' + ' | '.join([question, "
        "answer with <AND>/<OR> spaced, prediction, '']); a re-ask uses the meta-data question and appends "
        "'\\nPredict the correctness of the answer (digit): '",
        "items": items,
        "cap_score": run["cap_score"],
        "cap_int_score": run["cap_int_score"],
    }


def vip_bench_first_replies(root: Path, fx: Path, work: Path, chat: ChatCapture, results: Path) -> dict:
    """Each tricky first reply, on one item each (re-asks answered '0.7'): what upstream keeps."""
    predictions = json.loads(results.read_text())
    keys = list(predictions)
    cases = []
    for start in range(0, len(VIP_BENCH_FIRST_REPLIES), len(keys)):
        chunk = VIP_BENCH_FIRST_REPLIES[start : start + len(keys)]
        grades = {k: [r, "0.7"] for k, r in zip(keys, chunk)}
        grades.update({k: ["0.7"] for k in keys[len(chunk) :]})
        run = run_vip_evaluator(root, fx, work, chat, "human", results, grades)
        for key, first in zip(keys, chunk):
            calls = [c for c in run["calls"] if f" | {predictions[key]} | " in c["request"]["messages"][0]["content"]]
            score = run["grades"][key]["score"][0]
            cases.append({"reply": first, "calls": len(calls), "score": clean(score), "accepted": len(calls) == 1})
    return {
        "source": src("vip-llava", "scripts/eval/vip-bench_evaluator.py"),
        "rule": "content.split(' ')[0].strip() as float in [0, 1]; else re-ask (temperature +0.5 after each); "
        "after the 5th re-ask the score is 0.0 and that reply is never parsed",
        "cases": cases,
    }


def published_results(root: Path) -> dict[str, Any]:
    path = root / "playground/data/eval/vip-bench-example-results/vip-llava-7b-human.json"
    text = path.read_text()
    data = json.loads(text)
    return {
        "source": src("vip-llava", str(path.relative_to(root))),
        "sha256": sha256(text),
        "keys": len(data),
        "first_key": next(iter(data)),
        "json_dumps_indent_2_round_trips": json.dumps(data, indent=2) == text,
    }


def job_vip_llava(root: Path, fx: Path, work: Path) -> dict[str, Any]:
    model, chat = FakeModel(), ChatCapture()
    install_llava(root, model, chat)
    out: dict[str, Any] = {"upstream": provenance("vip-llava"), "tokenizer": TOKENIZER_NOTE}
    for split in ("bbox", "human"):
        record, results = vip_bench_prompts(root, fx, work, model, split)
        record["judge"] = vip_bench_judge(root, fx, work, chat, split, results)
        out[f"vip_bench_{split}"] = record
    out["vip_bench_grade_parsing"] = vip_bench_first_replies(root, fx, work, chat, results)
    out["vip_bench_published_results"] = published_results(root)
    for task in VIP_SCRIPTS:
        out[task] = vip_task(root, fx, work, model, task)
    out["colours"] = colour_pool_record(root)
    out["pope"] = llava_pope("vip-llava", root, fx, work, model)
    wild = fx / "llava-bench-wild"
    record, _ = llava_bench_answers("vip-llava", root, wild / "questions.jsonl", wild / "images", work, model, "wild")
    record["review"] = (
        "eval_gpt_review_bench.py, rule.json and summarize_gpt_review.py are LLaVA's blobs: see LLaVA's data"
    )
    out["llava_bench_wild"] = record
    return out


# ---------------------------------------------------------------------------------------------------------------
# Osprey
# ---------------------------------------------------------------------------------------------------------------


def install_osprey(root: Path, model: FakeModel) -> None:
    sys.path.insert(0, str(root))
    cpu_torch()
    package(root, "osprey")
    module("osprey.model", __path__=[], __all__=[])
    module("osprey.model.language_model", __path__=[])
    fake = type("OspreyLlamaForCausalLM", (), {"from_pretrained": staticmethod(lambda *a, **k: model)})
    module("osprey.model.language_model.osprey_llama", OspreyLlamaForCausalLM=fake)
    package(root, "osprey.train")
    module("osprey.train.osprey_trainer", OspreyTrainer=object)
    import transformers

    transformers.AutoTokenizer.from_pretrained = staticmethod(lambda *a, **k: CodepointTokenizer())  # type: ignore


def osprey_pope(root: Path, fx: Path, work: Path, model: FakeModel) -> dict[str, Any]:
    """pope_eval.sh: pope_eval.py per setting, then pope/evaluate.py on what it wrote."""
    sh = root / "osprey/eval/pope_eval.sh"
    flags = script_flags(sh, "pope_eval.py", {"type": "random"})
    eval_flags = script_flags(sh, "pope/evaluate.py", {"type": "random"})
    settings = {}
    for setting, replies in POPE_REPLIES.items():
        label_file = fx / "pope-rucaibox/output/coco" / f"coco_pope_{setting}.json"
        answers = work / f"osprey_pope_{setting}.json"
        paths = {"--img": str(fx / "pope-rucaibox/val2014"), "--json": str(label_file), "--answer": str(answers)}
        model.script(replies)
        run_main(root / "osprey/eval/pope_eval.py", argv_of(flags, paths))
        calls = model.calls
        written = read_jsonl(answers)
        scope, printed = run_main(
            root / "osprey/eval/pope/evaluate.py",
            argv_of(eval_flags, {"--ans-file": str(answers), "--label-file": str(label_file)}),
        )
        labels = read_jsonl(label_file)
        items = [
            {
                "question_id": line["question_id"],
                "label": line["label"],
                **prompt_record(call),
                "output": reply,
                "answer_file": answer["answer"],
                "parsed": parsed["answer"],
            }
            for line, call, reply, answer, parsed in zip(labels, calls, replies, written, scope["answers"])
        ]
        report = parse_pope_report(f"Category: {setting}, # samples: {len(labels)}\n" + printed)[setting]
        settings[setting] = {"decoding": one_setting(calls), "image_tensor": calls[0]["images"], "items": items}
        settings[setting]["scores"] = report
    return {
        "source": src(
            "osprey",
            "osprey/eval/pope_eval.py",
            "osprey/train/train.py",
            "osprey/conversation.py",
            "osprey/mm_utils.py",
            "osprey/eval/pope/evaluate.py",
            script="osprey/eval/pope_eval.sh",
        ),
        "flags": kept_flags(flags, {"--img": 0, "--json": 0, "--answer": 0}),
        "settings": settings,
    }


def osprey_refcocog_file(fx: Path, work: Path) -> tuple[Path, Path, list[dict[str, Any]]]:
    """finetune_refcocog_val_with_mask.json's layout from the fixture's val split: one COCO 'image' per region
    (file_name, height, width, caption = the region's first expression), its annotation holding the polygon."""
    import pandas as pd
    from PIL import Image

    frame = pd.read_parquet(fx / "refcocog/data/val-00000-of-00001.parquet")
    images_dir = work / "osprey_coco"
    images_dir.mkdir(exist_ok=True)
    images, annotations, rows = [], [], []
    for index, row in enumerate(frame.to_dict("records"), start=1):
        picture = Image.open(io.BytesIO(row["image"]["bytes"]))
        picture.save(images_dir / row["file_name"].split("_")[-1])
        caption = list(row["answer"])[0]
        images.append(
            {
                "id": index,
                "file_name": row["file_name"],
                "height": picture.height,
                "width": picture.width,
                "caption": caption,
            }
        )
        box = [float(x) for x in row["bbox"]]
        annotations.append(
            {
                "id": 100 + index,
                "image_id": index,
                "segmentation": [[float(x) for x in row["segmentation"]]],
                "bbox": box,
                "area": box[2] * box[3],
                "iscrowd": 0,
                "category_id": 1,
            }
        )
        rows.append({"question_id": row["question_id"], "caption": caption})
    path = work / "finetune_refcocog_val_with_mask.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "x"}]}))
    return path, images_dir, rows


def osprey_refcocog(root: Path, fx: Path, work: Path, model: FakeModel) -> dict[str, Any]:
    ann, images, rows = osprey_refcocog_file(fx, work)
    runs = []
    for outputs in OSPREY_CAPTIONS:
        run_dir = Path(tempfile.mkdtemp(dir=work))
        model.script(outputs)
        run_main(
            root / "osprey/eval/refcocog_eval.py",
            ["--model", "osprey-7b", "--img", str(images), "--json", str(ann)],
            run_dir,
        )
        captions = json.loads((run_dir / "captions_refcocog_osprey.json").read_text())
        gt = json.loads((run_dir / "captions_refcocog_gt.json").read_text())
        runs.append({"calls": model.calls, "outputs": outputs, "captions": captions, "gt": gt})
    first = runs[0]
    items = [
        {"question_id": r["question_id"], **prompt_record(c), "masks": c.get("masks"), "reference": g["caption"]}
        for r, c, g in zip(rows, first["calls"], first["gt"]["annotations"])
    ]
    post = [{"output": o, "caption": c["caption"]} for run in runs for o, c in zip(run["outputs"], run["captions"])]
    return {
        "source": src(
            "osprey",
            "osprey/eval/refcocog_eval.py",
            "osprey/train/train.py",
            "osprey/conversation.py",
            "osprey/mm_utils.py",
        ),
        "input_file": "finetune_refcocog_val_with_mask.json's layout, built from the fixture's val split: one image "
        "entry per region, caption = its first expression (Osprey keeps one caption per item)",
        "decoding": one_setting(first["calls"]),
        "image_tensor": first["calls"][0]["images"],
        "items": items,
        "gt_file": first["gt"],
        "post_processing": post,
    }


def job_osprey(root: Path, fx: Path, work: Path) -> dict[str, Any]:
    model = FakeModel(echo_prompt=True)
    install_osprey(root, model)
    out: dict[str, Any] = {"upstream": provenance("osprey"), "tokenizer": TOKENIZER_NOTE}
    out["pope"] = osprey_pope(root, fx, work, model)
    out["refcocog"] = osprey_refcocog(root, fx, work, model)
    return out


# ---------------------------------------------------------------------------------------------------------------
# lmms-eval
# ---------------------------------------------------------------------------------------------------------------


def hf_docs(path: Path) -> list[dict[str, Any]]:
    """Rows of a Hub parquet file as `datasets` hands them to lmms-eval: the image decoded to a PIL image."""
    import pandas as pd
    from PIL import Image

    docs = []
    for row in pd.read_parquet(path).to_dict("records"):
        row["image"] = Image.open(io.BytesIO(row["image"]["bytes"]))
        docs.append({k: (list(v) if hasattr(v, "tolist") and not isinstance(v, str) else v) for k, v in row.items()})
    return docs


def yaml_kwargs(path: Path) -> dict[str, Any]:
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_constructor("!function", lambda loader, node: f"!function {loader.construct_scalar(node)}")
    return yaml.load(path.read_text(), Loader=Loader)


def lmms_pope(root: Path, fx: Path) -> dict[str, Any]:
    utils = load(root / "lmms_eval/tasks/pope/utils.py", "upstream_pope_utils")
    config = yaml_kwargs(root / "lmms_eval/tasks/pope/pope.yaml")
    kwargs = config["lmms_eval_specific_kwargs"]["default"]
    settings = {}
    for setting, replies in POPE_REPLIES.items():
        docs = hf_docs(fx / "pope-hf/Full" / f"{setting}-00000-of-00001.parquet")
        results = [utils.pope_process_results(doc, [reply]) for doc, reply in zip(docs, replies)]
        items = [
            {
                "question_id": doc["question_id"],
                "answer": doc["answer"],
                "prompt": utils.pope_doc_to_text(doc, kwargs),
                "output": reply,
                "prediction": r["pope_accuracy"]["prediction"],
                "score": r["pope_accuracy"]["score"],
            }
            for doc, reply, r in zip(docs, replies, results)
        ]
        scores = {}
        for metric in ("accuracy", "precision", "recall", "f1_score", "yes_ratio"):
            aggregate = getattr(utils, f"pope_aggregate_{metric}")
            scores[metric] = aggregate([r[f"pope_{metric}"] for r in results])
        settings[setting] = {"items": items, "scores": scores}
    return {
        "source": src("lmms-eval", "lmms_eval/tasks/pope/utils.py", "lmms_eval/tasks/pope/pope.yaml"),
        "generation_kwargs": config["generation_kwargs"],
        "lmms_eval_specific_kwargs": kwargs,
        "settings": settings,
    }


def drawn_pixels(before: Any, after: Any) -> dict[str, Any]:
    """Where doc_to_visual drew: the changed pixels' bounding box, count and colours."""
    import numpy as np

    a = np.asarray(before.convert("RGB")).astype(int)
    b = np.asarray(after.convert("RGB")).astype(int)
    changed = np.argwhere((a != b).any(axis=2))
    if not len(changed):
        return {"changed_pixels": 0}
    ys, xs = changed[:, 0], changed[:, 1]
    colours = sorted({tuple(int(v) for v in b[y, x]) for y, x in changed})
    return {
        "changed_pixels": int(len(changed)),
        "bbox_xyxy": [int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())],
        "colours": [list(c) for c in colours],
    }


def lmms_refcocog(root: Path, fx: Path) -> dict[str, Any]:
    utils = load(root / "lmms_eval/tasks/refcocog/utils.py", "upstream_refcocog_utils")
    config = yaml_kwargs(root / "lmms_eval/tasks/refcocog/_default_template_bbox_yaml")
    docs = hf_docs(fx / "refcocog/data/val-00000-of-00001.parquet")
    items = []
    for doc in docs:
        original = doc["image"].copy()
        items.append(
            {
                "question_id": doc["question_id"],
                "prompt": utils.refcoco_doc_to_text(doc),
                "bbox_doc_bbox": list(doc["bbox"]),
                "bbox_visual": drawn_pixels(
                    original, utils.refcoco_bbox_doc_to_visual(dict(doc, image=original.copy()))[0]
                ),
                "seg_visual": drawn_pixels(
                    original, utils.refcoco_seg_doc_to_visual(dict(doc, image=original.copy()))[0]
                ),
                "references": list(doc["answer"]),
            }
        )
    results = [utils.refcoco_process_result(doc, [pred]) for doc, pred in zip(docs, LMMS_REFCOCOG_PREDICTIONS)]
    metrics = {}
    for metric in utils.COCO_METRICS:
        metrics[metric] = utils.refcoco_aggregation_result([r[f"refcoco_{metric}"] for r in results], metric)
    return {
        "source": src(
            "lmms-eval",
            "lmms_eval/tasks/refcocog/utils.py",
            "lmms_eval/tasks/refcocog/_default_template_bbox_yaml",
            "lmms_eval/tasks/refcocog/refcocog_bbox_val.yaml",
        ),
        "generation_kwargs": config["generation_kwargs"],
        "items": items,
        "predictions": LMMS_REFCOCOG_PREDICTIONS,
        "metrics": metrics,
    }


def job_lmms_eval(root: Path, fx: Path, work: Path) -> dict[str, Any]:
    return {
        "upstream": provenance("lmms-eval"),
        "pope": lmms_pope(root, fx),
        "refcocog_bbox_val": lmms_refcocog(root, fx),
    }


# ---------------------------------------------------------------------------------------------------------------
# OMG-LLaVA: its region-caption tool, main() as its README runs it
# ---------------------------------------------------------------------------------------------------------------

#: Scripted captions (tricky for the tool's cleaning: "region1", ":", tags, [SEG], quotes, runs of spaces).
OMG_CAPTIONS = [
    "region1: a man riding a horse.\n",
    "<p> Region1 </p> two dogs [SEG] playing   in the snow",
    "'a red car: parked  on the street'",
]


class AttrDict(dict):
    """mmengine's ConfigDict as far as the tool uses it: a dict with attribute access."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value


class OMGTokenizer:
    """bos 1 (``encode`` adds it unless told not to), then code points; ``decode`` gives the scripted reply."""

    bos_token_id, eos_token_id, pad_token_id = 1, 2, 0

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        return ([self.bos_token_id] if add_special_tokens else []) + [ord(c) for c in text]

    def decode(self, ids: Any, skip_special_tokens: bool = True) -> str:
        return "".join(chr(i) for i in (ids.tolist() if hasattr(ids, "tolist") else ids) if i > 2)


class OMGStandIns:
    """The model, visual encoder and projector of the tool: records what the tool passes, answers as scripted."""

    def __init__(self) -> None:
        import torch

        self.replies: list[str] = []
        self.calls: list[dict[str, Any]] = []
        self.tokenizer = OMGTokenizer()
        identity = types.SimpleNamespace(weight=torch.zeros(1))
        self.projector = types.SimpleNamespace(
            model=types.SimpleNamespace(query_proj=lambda x: x, model=lambda x: x),
            cuda=lambda: None,
            eval=lambda: None,
        )
        self.projector.model.query_proj.weight = identity.weight  # type: ignore[attr-defined]
        self.projector = _Callable(self.projector, lambda x: x)
        self.visual_encoder = _Callable(
            types.SimpleNamespace(dtype=torch.float32, cuda=lambda: None, eval=lambda: None),
            lambda image, **_: image,
        )
        self.visual_encoder.forward_region_sam = self.region_sam
        self.llm = types.SimpleNamespace(eval=lambda: None, generate=self.generate)
        self.model = types.SimpleNamespace(
            llm=self.llm,
            tokenizer=self.tokenizer,
            visual_encoder=self.visual_encoder,
            projector=self.projector,
            projector_text2vision=None,
            mark_token_idx=-1,
            load_state_dict=lambda *a, **k: None,
            cuda=lambda: None,
            eval=lambda: None,
        )

    def region_sam(self, masks: Any, batch_idxs: Any) -> Any:
        import torch

        self.calls.append({"masks": {**clean(masks), "pixels_on": int((masks > 0).sum().item())}})
        return torch.zeros(len(masks), 1, 1)

    def prepare(self, llm: Any = None, input_ids: Any = None, **kwargs: Any) -> dict[str, Any]:
        self.calls[-1]["ids"] = input_ids[0].tolist()
        return {"input_ids": input_ids}

    def generate(self, generation_config: Any = None, stopping_criteria: Any = None, **kwargs: Any) -> Any:
        config = generation_config.to_dict()
        self.calls[-1]["settings"] = {k: config[k] for k in ("max_new_tokens", "do_sample", "num_beams")}
        self.calls[-1]["stop_words"] = stopping_criteria
        reply = self.replies.pop(0)
        return types.SimpleNamespace(sequences=[[1] + [ord(c) for c in reply]])


class _Callable:
    """An object that can be called as the tool calls the encoder and projector, with attributes beside."""

    def __init__(self, attrs: Any, call: Callable[..., Any]) -> None:
        self.__dict__.update(vars(attrs))
        self._call = call

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._call(*args, **kwargs)


def install_omg_llava(root: Path, stand: OMGStandIns) -> dict[str, Any]:
    """Stand-ins for mmengine, xtuner's builders and the model; xtuner's real templates and constants."""
    from transformers import CLIPImageProcessor

    cpu_torch()
    module("mmengine", __path__=[])
    config = type("Config", (AttrDict,), {"fromfile": staticmethod(lambda path: omg_config())})
    module("mmengine.config", ConfigDict=AttrDict, Config=config)
    templates = load(root / "omg_llava/xtuner/utils/templates.py", "upstream_xtuner_templates")
    constants = load(root / "omg_llava/xtuner/utils/constants.py", "upstream_xtuner_constants")
    module(
        "mmengine.dist",
        collect_results=lambda results, n: results,
        get_dist_info=lambda: (0, 1),
        get_rank=lambda: 0,
        init_dist=lambda *a: None,
        master_only=lambda f: f,
    )
    module("mmengine.utils", __path__=[])
    module("mmengine.utils.dl_utils", set_multi_processing=lambda **k: None)
    module("mmengine.fileio", PetrelBackend=type("PetrelBackend", (), {}), get_file_backend=lambda p: object())
    module("xtuner", __path__=[])
    module("xtuner.model", __path__=[])
    module("xtuner.model.utils", LoadWoInit=object, guess_load_checkpoint=lambda p: {})
    module("xtuner.tools", __path__=[])
    module("xtuner.tools.utils", get_stop_criteria=lambda tokenizer, stop_words: list(stop_words), is_cn_string=None)
    module(
        "xtuner.utils",
        DEFAULT_IMAGE_TOKEN=constants.DEFAULT_IMAGE_TOKEN,
        IMAGE_TOKEN_INDEX=constants.IMAGE_TOKEN_INDEX,
        PROMPT_TEMPLATE=templates.PROMPT_TEMPLATE,
    )
    module("xtuner.registry", BUILDER=types.SimpleNamespace(build=lambda cfg: stand.model))
    module("xtuner.configs", cfgs_name_path={})
    module("omg_llava", __path__=[])
    module("omg_llava.model", __path__=[])
    module("omg_llava.model.utils", prepare_inputs_labels_for_multimodal_with_visual_prompts=stand.prepare)
    module("omg_llava.dataset", __path__=[])
    utils = load(root / "omg_llava/omg_llava/dataset/utils/utils.py", "omg_llava.dataset.utils")
    sys.modules["omg_llava.dataset"].utils = utils  # type: ignore[attr-defined]

    def processor(**kwargs: Any) -> Any:
        return CLIPImageProcessor(**kwargs)

    global _OMG_PROCESSOR
    _OMG_PROCESSOR = processor
    return {"internlm2_chat": dict(templates.PROMPT_TEMPLATE["internlm2_chat"])}


_OMG_PROCESSOR: Any = None


def omg_config() -> AttrDict:
    """What the tool reads of its config: the model type, and the image processor (CLIP's, 1024 px, OMG's mean)."""
    mean, std = [0.48145466, 0.4578275, 0.40821073], [0.26862954, 0.26130258, 0.27577711]
    processor = {
        "type": _OMG_PROCESSOR,
        "do_resize": True,
        "size": 1024,
        "resample": 3,
        "do_center_crop": True,
        "crop_size": 1024,
        "do_rescale": True,
        "do_normalize": True,
        "image_mean": mean,
        "image_std": std,
        "do_convert_rgb": True,
    }
    return AttrDict(model=AttrDict(type="OMG_LLaVA"), image_processor=processor)


def omg_refcocog_files(fx: Path, work: Path) -> tuple[Path, list[dict[str, Any]]]:
    """The tool's inputs at the paths it reads (relative to the folder it runs in): the RefCOCOg file (one COCO
    'image' per region, its annotation under the same id, as the tool looks it up) and the images by file name."""
    ann, images, rows = osprey_refcocog_file(fx, work)
    data = json.loads(ann.read_text())
    for image, annotation in zip(data["images"], data["annotations"]):
        annotation["id"] = image["id"]
    cwd = work / "omg_run"
    target = cwd / "data/region_caption/refcocog/finetune_refcocog_val_with_mask.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(data))
    folder = cwd / "data/glamm_data/images/coco2014/train2014"
    folder.mkdir(parents=True, exist_ok=True)
    for image in data["images"]:
        shutil.copy(images / image["file_name"].split("_")[-1], folder / image["file_name"])
    return cwd, rows


def job_omg_llava(root: Path, fx: Path, work: Path) -> dict[str, Any]:
    stand = OMGStandIns()
    template = install_omg_llava(root, stand)
    cwd, rows = omg_refcocog_files(fx, work)
    stand.replies = list(OMG_CAPTIONS)
    tool = root / "omg_llava/omg_llava/tools/region_cap_mask_omg_seg_llava.py"
    out_file = work / "region_cap_pred.json"
    config = cwd / "omg_llava_7b_finetune_8gpus.py"  # the tool checks that it exists; Config.fromfile is a stand-in
    config.write_text("# stand-in: see omg_config()\n")
    _, printed = run_main(tool, [config.name, "omg_llava_7b_finetune_8gpus.pth", "--output-path", str(out_file)], cwd)
    results = json.loads(out_file.read_text())
    items = []
    for row, call, output, result in zip(rows, stand.calls, OMG_CAPTIONS, results):
        items.append(
            {
                "question_id": row["question_id"],
                "reference": row["caption"],
                "prompt": prompt_of(call["ids"], image_index=-200),
                "ids": id_runs(call["ids"]),
                "masks": call["masks"],
                "output": output,
                "caption": result["caption"],
            }
        )
    return {
        "upstream": provenance("omg-llava"),
        "tokenizer": TOKENIZER_NOTE,
        "prompt_template": template,
        "refcocog": {
            "source": src(
                "omg-llava",
                "omg_llava/omg_llava/tools/region_cap_mask_omg_seg_llava.py",
                "omg_llava/xtuner/utils/templates.py",
                "omg_llava/omg_llava/dataset/utils/utils.py",
                script="omg_llava/README.md (xtuner region_cap_mask_omg_seg_llava CONFIG PTH --output-path ...)",
            ),
            "flags": {"--prompt-template": "internlm2_chat (default)", "--max-new-tokens": "300 (default)"},
            "decoding": {**stand.calls[0]["settings"], "stop_words": stand.calls[0]["stop_words"]},
            "items": items,
        },
    }


# ---------------------------------------------------------------------------------------------------------------
# PerceptionGPT: its test datasets' __getitem__ (Shikra's), the conversation and tokenization it evaluates with
# ---------------------------------------------------------------------------------------------------------------


class TensorTokenizer(CodepointTokenizer):
    """The stand-in tokenizer returning tensors, as ShikraTextProcess calls it."""

    def __call__(self, texts: Any, add_special_tokens: bool = True, **_: Any) -> types.SimpleNamespace:
        import torch

        rows = [([self.bos_token_id] if add_special_tokens else []) + [ord(c) for c in t] for t in texts]
        return types.SimpleNamespace(input_ids=torch.tensor(rows))


def install_perceptiongpt(root: Path) -> dict[str, Any]:
    """Its dataset, conversation and process-function files, loaded with stand-ins for mmengine's registries,
    image reading and the training utilities the box formatter imports."""
    from PIL import Image

    sys.path.insert(0, str(root))

    class Registry:
        def __init__(self, *a: Any, **k: Any) -> None:
            pass

        def register_module(self, *a: Any, **k: Any) -> Callable[[Any], Any]:
            return lambda cls: cls

    module("mmengine", DATASETS=Registry(), TRANSFORMS=Registry(), METRICS=Registry(), FUNCTIONS=Registry())
    sys.modules["mmengine"].Registry = Registry  # type: ignore[attr-defined]
    package(root, "mllm")
    module("mllm.utils", smart_tokenizer_and_embedding_resize=None, decode_generate_ids=None)
    package(root, "mllm.dataset")
    package(root, "mllm.dataset.utils")
    module("mllm.dataset.utils.io", read_img_general=lambda path: Image.open(path).convert("RGB"))
    module("mllm.dataset.utils.transform", norm_box_xyxy=None, norm_point_xyxy=None)
    mixin = importlib.import_module("mllm.dataset.utils.mixin")
    sys.modules["mllm.dataset.utils"].MInstrDataset = mixin.MInstrDataset  # type: ignore[attr-defined]
    metrics = importlib.import_module("mllm.dataset.utils.compute_metrics")
    sys.modules["mllm.dataset"].BaseComputeMetrics = metrics.BaseComputeMetrics  # type: ignore[attr-defined]
    package(root, "mllm.dataset.single_image_dataset")
    package(root, "mllm.dataset.process_function")
    return {
        "pope": importlib.import_module("mllm.dataset.single_image_dataset.pope"),
        "reg": importlib.import_module("mllm.dataset.single_image_dataset.reg"),
        "vcr": importlib.import_module("mllm.dataset.single_image_dataset.vcr"),
        "point_qa": importlib.import_module("mllm.dataset.single_image_dataset.point_qa"),
        "shikra": importlib.import_module("mllm.dataset.process_function.shikra_process_function"),
        "boxes": importlib.import_module("mllm.dataset.process_function.box_process_function"),
        "conversation": importlib.import_module("mllm.conversation"),
    }


def read_config(path: Path) -> dict[str, Any]:
    """A PerceptionGPT config file's dicts (plain Python literals; ``{{fileDirname}}`` left as written)."""
    scope: dict[str, Any] = {}
    exec(compile(path.read_text(), str(path), "exec"), scope)  # noqa: S102 - upstream config, data only
    return {k: v for k, v in scope.items() if not k.startswith("__")}


def shikra_prompt(mods: dict[str, Any], conv_cfg: dict[str, Any], question: str, boxes_seq: Any) -> dict[str, Any]:
    """The evaluation text of one item: the box formatter, ShikraConvProcess (the image tokens),
    vicuna_v1.1 and ShikraTextProcess's eval tokenization, as upstream's SingleImageConvDataset chains them."""
    value = mods["boxes"].UnifiedFormatter()(question, boxes_seq) if boxes_seq else question
    raw = [{"from": "human", "value": value}, {"from": "gpt", "value": "x"}]
    raw = mods["shikra"].ShikraConvProcess()(raw, {"conv": conv_cfg}, None)
    conv = mods["conversation"].get_conv_template("vicuna_v1.1")
    for turn, role in zip(raw, conv.roles):
        conv.append_message(role, turn["value"])
    tokenizer = TensorTokenizer()
    ret = mods["shikra"].ShikraTextProcess().tk_conv_colon_two_eval(conv, tokenizer, return_tensors="pt")
    ids = ret["input_ids"].tolist()
    image = "<im_start>" + "<im_patch>" * conv_cfg["image_token_len"] + "<im_end>"
    text = prompt_of(ids).replace(image, "<image>")
    asked = raw[0]["value"].replace(image, "<image>")  # the question as the conversation holds it
    assert text.count(asked) == 1, (text, asked)
    around = text.replace("{", "{{").replace("}", "}}").replace(asked, "{question}")
    return {"prompt": text, "around": around, "image_tokens": prompt_of(ids).count("<im_patch>"), "ids_len": len(ids)}


def drawn_template(templates: list[str], question: str, filled: dict[str, str]) -> dict[str, Any]:
    """Which template of the file the dataset drew (its index, its sha256), found by filling each in as the
    dataset does: the data then names it without holding upstream's prose."""

    def fill(template: str) -> str:
        for placeholder, value in filled.items():
            template = template.replace(placeholder, value)
        return template

    (index,) = [i for i, t in enumerate(templates) if fill(str(t)) == question]
    return {"template_index": index, "template_sha256": sha256(str(templates[index])), "filled": filled}


def prose_free(built: dict[str, Any]) -> dict[str, Any]:
    """The record of a prompt without upstream's template prose: the prompt with the drawn, filled-in template as
    ``{question}`` (braces elsewhere doubled), the image's token count and the number of ids."""
    return {"prompt_around": built["around"], "image_tokens": built["image_tokens"], "ids_len": built["ids_len"]}


def perceptiongpt_pope(root: Path, fx: Path, mods: dict[str, Any], conv_cfg: dict[str, Any]) -> dict[str, Any]:
    from vipbench.protocols import sample_seed

    variant = read_config(root / "config/_base_/dataset/DEFAULT_TEST_POPE_VARIANT.py")["DEFAULT_TEST_POPE_VARIANT"]
    template = root / "config/_base_/dataset/template/VQA.json"
    settings = {}
    for setting in POPE_REPLIES:
        cfg = variant[f"COCO_POPE_{setting.upper()}_q_a"]
        label_file = fx / "pope-rucaibox/output/coco" / f"coco_pope_{setting}.json"
        items = []
        for index, line in enumerate(read_jsonl(label_file)):
            seed = sample_seed(0, f"pope-{setting}", str(line["question_id"]))
            dataset = mods["pope"].POPEVQADataset(
                filename=str(label_file),
                image_folder=str(fx / "pope-rucaibox/val2014"),
                template_file=str(template),
                seed=seed,
            )
            item = dataset[index]
            human, gpt = item["conversations"]
            built = shikra_prompt(mods, conv_cfg, human["value"], None)
            drawn = drawn_template(dataset.templates, human["value"], {"<question>": line["text"]})
            items.append(
                {"question_id": line["question_id"], "seed": seed, **drawn, **prose_free(built)}
                | {"target": gpt["value"]}
            )
        settings[setting] = {"config": f"COCO_POPE_{setting.upper()}_q_a", "template_file": cfg["template_file"]}
        settings[setting]["items"] = items
    return {
        "source": src(
            "perceptiongpt",
            "config/_base_/dataset/DEFAULT_TEST_POPE_VARIANT.py",
            "mllm/dataset/single_image_dataset/pope.py",
            "mllm/dataset/utils/mixin.py",
            "config/_base_/dataset/template/VQA.json",
            "mllm/dataset/process_function/shikra_process_function.py",
            "mllm/conversation/base_conversation.py",
        ),
        "seeds": "each item's dataset built with seed=vipbench.protocols.sample_seed(0, task, question_id) "
        "(upstream passes none: numpy's default_rng(None)); the template drawn by its rng.choice",
        "settings": settings,
    }


def perceptiongpt_refcocog(root: Path, fx: Path, work: Path, mods: dict[str, Any], conv_cfg: dict) -> dict:
    """REGDataset on the fixture's val split: one item per region, its first expression, its box (xyxy)."""
    from vipbench.protocols import sample_seed

    docs = hf_docs(fx / "refcocog/data/val-00000-of-00001.parquet")
    folder = work / "pgpt_images"
    folder.mkdir(exist_ok=True)
    lines = []
    for doc in docs:
        doc["image"].save(folder / doc["file_name"])
        x, y, w, h = (float(v) for v in doc["bbox"])
        lines.append({"img_path": doc["file_name"], "expression": doc["answer"][0], "bbox": [x, y, x + w, y + h]})
    data_file = work / "pgpt_refcocog_val.jsonl"
    write_jsonl(data_file, lines)
    items = []
    for index, doc in enumerate(docs):
        seed = sample_seed(0, "refcocog-val", str(doc["question_id"]))
        dataset = mods["reg"].REGDataset(
            filename=str(data_file),
            image_folder=str(folder),
            template_file=str(root / "config/_base_/dataset/template/REG.json"),
            seed=seed,
        )
        item = dataset[index]
        human, gpt = item["conversations"]
        boxes = [[item["target"]["boxes"][i] for i in seq] for seq in human["boxes_seq"]]
        built = shikra_prompt(mods, conv_cfg, human["value"], boxes)
        drawn = drawn_template(dataset.templates, human["value"], {"<objs>": "<boxes>"})
        drawn["filled"] = {"<objs>": "<loc>"}  # <boxes> as the box formatter writes one box
        items.append(
            {"question_id": doc["question_id"], "seed": seed, **drawn, **prose_free(built)} | {"target": gpt["value"]}
        )
    return {
        "source": src(
            "perceptiongpt",
            "mllm/dataset/single_image_dataset/reg.py",
            "mllm/dataset/utils/mixin.py",
            "config/_base_/dataset/template/REG.json",
            "mllm/dataset/process_function/box_process_function.py",
            "mllm/dataset/process_function/shikra_process_function.py",
            "mllm/conversation/base_conversation.py",
        ),
        "input_file": "REGDataset's layout from the fixture's val split: img_path, the first expression, the box xyxy",
        "items": items,
    }


def drawn_question(templates: list[str], value: str) -> tuple[int, str]:
    """The template a dataset drew and what it put for ``<question>``, read back from the text it built (a
    template's text around ``<question>`` fits exactly one of the file's)."""
    found = []
    for i, template in enumerate(templates):
        before, _, after = str(template).partition("<question>")
        if value.startswith(before) and value.endswith(after) and len(value) >= len(before) + len(after):
            found.append((i, value[len(before) : len(value) - len(after)]))
    (one,) = found
    return one


def shikra_item(mods: dict[str, Any], conv_cfg: dict, dataset: Any, index: int, seed: int) -> dict[str, Any]:
    """One item of a ``<question>``-template dataset whose question holds ``<boxes>``: the template drawn, the
    question filled in as the box formatter writes it, the object indices of each ``<boxes>``, the prompt around."""
    item = dataset[index]
    human, gpt = item["conversations"]
    seq = human["boxes_seq"]
    boxes = [[item["target"]["boxes"][i] for i in group] for group in seq]
    built = shikra_prompt(mods, conv_cfg, human["value"], boxes)
    template_index, question = drawn_question(dataset.templates, human["value"])
    filled = {"<question>": mods["boxes"].UnifiedFormatter()(question, boxes)}
    return {
        "seed": seed,
        "template_index": template_index,
        "template_sha256": sha256(str(dataset.templates[template_index])),
        "filled": filled,
        "boxes_seq": seq,
        **prose_free(built),
        "target": gpt["value"],
    }


def shikra_scores(mods: dict[str, Any], replies: list[str], target: str) -> list[bool]:
    """Upstream's ``PointQAComputeMetrics.calculate_metric`` on each reply against the item's target: right or
    not (its accuracy over that one pair)."""
    metric = mods["point_qa"].PointQAComputeMetrics(preprocessor={"text": None})
    return [metric.calculate_metric([reply], [target])["accuracy"] == 1.0 for reply in replies]


#: Scripted replies scored by upstream's answer reading ({} the item's right answer): its own format, then the
#: near misses (case, no space, no period, two answers, a bare answer).
SHIKRA_REPLIES = {
    "vcr": [
        "The answer is ({}).",
        "The answer is ({}) .",
        "({})",
        "{}",
        "The answer is {}.",
        "the answer is ({}).",
        "The answer is (A). The answer is (B).",
        "The answer is (A).",
    ],
    "pointqa": [
        "The answer is {} .",
        "The answer is {}.",
        "{}",
        "The answer is {} ",
        "The answer is 2.5 .",
        "The answer is TWO .",
        "The answer is 3 . The answer is 3 .",
        "The answer is 3 .",
    ],
}


def perceptiongpt_vcr(root: Path, fx: Path, work: Path, mods: dict[str, Any], conv_cfg: dict) -> dict[str, Any]:
    """VCRDataset as VCR_val_qc_a (vipbench's vcr-qa) and VCR_val_qac_r (vcr-qar) on the fixture's val split."""
    from vipbench.protocols import sample_seed

    variant = read_config(root / "config/_base_/dataset/DEFAULT_TEST_VCR_VARIANT.py")["DEFAULT_TEST_VCR_VARIANT"]
    rows = json.loads((fx / "vcr/vcr-val.json").read_text())
    kept = ("question", "answer_choices", "answer_label", "rationale_choices", "rationale_label")
    lines = []
    for row in rows:
        meta = json.loads((fx / "vcr" / row["meta_dir"].replace("./dataset/", "", 1)).read_text())
        lines.append({"img_fn": row["image"], "boxes": meta["boxes"], **{k: row[k] for k in kept}})
    data_file = work / "pgpt_vcr_val.jsonl"
    write_jsonl(data_file, lines)
    tasks = {}
    for task, name in (("vcr-qa", "VCR_val_qc_a"), ("vcr-qar", "VCR_val_qac_r")):
        cfg = variant[name]
        template = root / "config/_base_/dataset" / cfg["template_file"].replace("{{fileDirname}}/", "")
        items = []
        for index, row in enumerate(rows):
            seed = sample_seed(0, task, row["id"])
            dataset = mods["vcr"].VCRDataset(
                filename=str(data_file),
                image_folder=str(fx / "vcr"),
                template_file=str(template),
                version=cfg["version"],
                seed=seed,
            )
            record = shikra_item(mods, conv_cfg, dataset, index, seed)
            right = record["target"].split("(")[1][0]
            replies = [r.format(right) for r in SHIKRA_REPLIES["vcr"]]
            scores = {"replies": replies, "right": shikra_scores(mods, replies, record["target"])}
            items.append({"id": row["id"], **record, "scored": scores})
        tasks[task] = {"config": name, "version": cfg["version"], "template_file": cfg["template_file"], "items": items}
    return {
        "source": src(
            "perceptiongpt",
            "config/_base_/dataset/DEFAULT_TEST_VCR_VARIANT.py",
            "mllm/dataset/single_image_dataset/vcr.py",
            "mllm/dataset/utils/mixin.py",
            "config/_base_/dataset/template/VQA.json",
            "mllm/dataset/process_function/box_process_function.py",
            "mllm/dataset/process_function/shikra_process_function.py",
            "mllm/conversation/base_conversation.py",
            "mllm/dataset/single_image_dataset/point_qa.py",
            "mllm/dataset/utils/compute_metrics.py",
        ),
        "input_file": "VCRDataset's layout from the fixture's vcr-val.json: img_fn, the image metadata's boxes, the "
        "question, choices and labels as given",
        "scoring": "no VCR metric upstream: 'scored' is its PointQAComputeMetrics (the one 'The answer is X.' of a "
        "reply equal to the target's) on scripted replies against the item's target, the rule vipbench applies",
        "tasks": tasks,
    }


def perceptiongpt_pointqa(root: Path, fx: Path, work: Path, mods: dict[str, Any], conv_cfg: dict) -> dict:
    """Point_QA_twice as POINT_TWICE_gq_b_test (vipbench's pointqa-twice) on the fixture's test split."""
    from vipbench.protocols import sample_seed

    variant = read_config(root / "config/_base_/dataset/DEFAULT_TEST_POINT_VARIANT.py")["DEFAULT_TEST_POINT_VARIANT"]
    cfg = variant["POINT_TWICE_gq_b_test"]
    rows = json.loads((fx / "pointqa/pointQA_twice_test.json").read_text())
    lines = []
    for row in rows:
        (box,) = row["bboxes"]
        point = [(box[0] + box[2]) / 2, (box[1] + box[3]) / 2]
        lines.append(
            {"file_path": row["image"], "general_question": row["general_question"], "answer": row["answer"]}
            | {"bbox": box, "point": point}
        )
    data_file = work / "pgpt_pointqa_twice_test.jsonl"
    write_jsonl(data_file, lines)
    template = root / "config/_base_/dataset" / cfg["template_file"].replace("{{fileDirname}}/", "")
    items = []
    for index, row in enumerate(rows):
        seed = sample_seed(0, "pointqa-twice", row["id"])
        dataset = mods["point_qa"].Point_QA_twice(
            filename=str(data_file),
            image_folder=str(fx / "pointqa/images"),
            template_file=str(template),
            version=cfg["version"],
            seed=seed,
        )
        record = shikra_item(mods, conv_cfg, dataset, index, seed)
        replies = [r.format(row["answer"]) for r in SHIKRA_REPLIES["pointqa"]]
        scores = {"replies": replies, "right": shikra_scores(mods, replies, record["target"])}
        items.append({"id": row["id"], **record, "scored": scores})
    return {
        "source": src(
            "perceptiongpt",
            "config/_base_/dataset/DEFAULT_TEST_POINT_VARIANT.py",
            "mllm/dataset/single_image_dataset/point_qa.py",
            "mllm/dataset/utils/mixin.py",
            "config/_base_/dataset/template/VQA.json",
            "mllm/dataset/process_function/box_process_function.py",
            "mllm/dataset/process_function/shikra_process_function.py",
            "mllm/conversation/base_conversation.py",
            "mllm/dataset/utils/compute_metrics.py",
        ),
        "input_file": "Point_QA_twice's layout from the fixture's pointQA_twice_test.json: file_path, "
        "general_question, answer, bbox (its one box), point (the box's centre: read, unused by version b)",
        "config": "POINT_TWICE_gq_b_test",
        "version": cfg["version"],
        "scoring": "'scored': its PointQAComputeMetrics on scripted replies against the item's target",
        "items": items,
    }


def perceptiongpt_decoding(root: Path) -> dict[str, Any]:
    """The generation settings its trainer sets for prediction (``perception_trainer.py``)."""
    text = (root / "mllm/engine/perception_trainer.py").read_text()
    found = dict(re.findall(r'gen_kwargs\["(max_new_tokens|num_beams)"\] = (\d+)', text))
    return {k: int(v) for k, v in found.items()}


def job_perceptiongpt(root: Path, fx: Path, work: Path) -> dict[str, Any]:
    mods = install_perceptiongpt(root)
    model = read_config(root / "config/_base_/model/shikra.py")["model_args"]
    conv_cfg = {
        "image_token_len": model["image_token_len"],
        "sep_image_conv_front": model["sep_image_conv_front"],
        "use_im_start_end": model["mm_use_im_start_end"],
    }
    folder = root / "config/_base_/dataset/template"
    templates = {
        name: {
            "sha256": sha256((folder / name).read_bytes()),
            "templates": len(json.loads((folder / name).read_text())),
        }
        for name in ("VQA.json", "REG.json")
    }
    return {
        "upstream": provenance("perceptiongpt"),
        "tokenizer": TOKENIZER_NOTE,
        "conv": {**conv_cfg, "conv_template": model["conv_args"]["conv_template"]},
        "decoding": perceptiongpt_decoding(root),
        "template_files": templates,
        "pope": perceptiongpt_pope(root, fx, mods, conv_cfg),
        "refcocog": perceptiongpt_refcocog(root, fx, work, mods, conv_cfg),
        "vcr": perceptiongpt_vcr(root, fx, work, mods, conv_cfg),
        "pointqa": perceptiongpt_pointqa(root, fx, work, mods, conv_cfg),
    }


#: The example datasets each job reads.
JOB_FIXTURES = {
    "llava": ["pope-rucaibox", "llava-bench-wild", "llava-bench-coco"],
    "vip-llava": ["vip-bench", "v7w", "pointqa", "vcr", "pope-rucaibox", "llava-bench-wild"],
    "osprey": ["pope-rucaibox", "refcocog"],
    "lmms-eval": ["pope-hf", "refcocog"],
    "omg-llava": ["refcocog"],
    "perceptiongpt": ["pope-rucaibox", "refcocog", "vcr", "pointqa"],
}

JOBS = {
    "llava": job_llava,
    "vip-llava": job_vip_llava,
    "osprey": job_osprey,
    "lmms-eval": job_lmms_eval,
    "omg-llava": job_omg_llava,
    "perceptiongpt": job_perceptiongpt,
}


# ---------------------------------------------------------------------------------------------------------------
# Driver
# ---------------------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in JOBS:
        parser.add_argument(f"--{name}", type=Path, metavar="DIR", help=f"checkout of {UPSTREAM[name]['repo']}")
    parser.add_argument("--out", type=Path, default=HERE, help="where the JSON files go (default: beside this file)")
    parser.add_argument("--fixtures", type=Path, help="reuse this folder for the example datasets")
    parser.add_argument("--job", choices=list(JOBS), help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.job:  # one upstream repository, in its own process
        root = getattr(args, args.job.replace("-", "_")).resolve()
        work = Path(tempfile.mkdtemp(prefix=f"upstream-{args.job}-"))
        data = JOBS[args.job](root, args.fixtures.resolve(), work)
        data["environment"] = environment()
        args.result.write_text(json.dumps(trim_ids(clean(data)), indent=1, ensure_ascii=False) + "\n")
        return

    chosen = [name for name in JOBS if getattr(args, name.replace("-", "_"))]
    if not chosen:
        parser.error("pass at least one checkout (--llava, --vip-llava, --osprey, --lmms-eval)")
    for name in chosen:
        check_checkout(name, getattr(args, name.replace("-", "_")))
    fixtures = args.fixtures or Path(tempfile.mkdtemp(prefix="upstream-fixtures-"))
    fixture_record = write_fixtures(fixtures)
    for name in chosen:
        result = Path(tempfile.mkdtemp()) / "result.json"
        root = getattr(args, name.replace("-", "_")).resolve()
        command = [sys.executable, __file__, "--job", name, f"--{name}", str(root), "--fixtures", str(fixtures)]
        subprocess.run([*command, "--result", str(result)], check=True)
        data = json.loads(result.read_text())
        data = {
            "about": f"Upstream's own code at {UPSTREAM[name]['repo']}@{UPSTREAM[name]['commit'][:7]}, run on "
            "vipbench's example datasets by tests/upstream/make_reference.py; see tests/upstream/README.md",
            **data,
            "fixtures": {k: fixture_record[k] for k in JOB_FIXTURES[name]},
        }
        target = args.out / UPSTREAM[name]["out"]
        target.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
        print(f"wrote {target}")


if __name__ == "__main__":
    main()
