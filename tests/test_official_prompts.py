"""The official judge prompts come from upstream's own files (never from vipbench): the user's copy, the cached
download, or a download at the pinned commit checked by sha256; with the file in place the judge's messages are
upstream's, byte for byte (tests/upstream's data: message templates with the prose as a ``{prompt}`` /
``{rule_prompt}`` / ``{system}`` field, and each message's sha256)."""

from __future__ import annotations

import hashlib
import json
import re
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import fixture_region_tasks as fx
import pytest
import upstream_standins
from judge_server import JudgeServer
from scripted import use_script

from vipbench.cli import main
from vipbench.errors import VipbenchError
from vipbench.records import PredictionRecord
from vipbench.scoring.judge.config import load_judge
from vipbench.scoring.judge.protocol import Judge
from vipbench.scoring.judge.template import load_template
from vipbench.scoring.judge.upstream import PINNED, official_file
from vipbench.scoring.spec import judge_spec

UPSTREAM = Path(__file__).parent / "upstream"
VIP = json.loads((UPSTREAM / "vip_llava_77079b1.json").read_text())
LLAVA = json.loads((UPSTREAM / "llava_c121f04.json").read_text())
REVIEW = re.compile(
    r"\[Context\]\n(?P<context>.*)\n\n\[Question\]\n(?P<question>.*)\n\n\[Assistant 1\]\n(?P<a1>.*)\n\n"
    r"\[End of Assistant 1\]\n\n\[Assistant 2\]\n(?P<a2>.*)\n\n\[End of Assistant 2\]\n\n\[System\]\n\{rule_prompt\}"
    r"\n\n$",
    re.S,
)


def record(question: str, reference: str, prediction: str, template: str | None = None, **metadata) -> PredictionRecord:
    return PredictionRecord(
        task="t", sample_id="s", region_mode="overlay", prediction=prediction, prompt=question,
        template=template, references=[reference], metadata=metadata, image="i", doc_hash="", prompt_hash="",
        target_hash="", seconds=0.0,
    )  # fmt: skip


def official_judge(name: str, path: Path) -> Judge:
    spec = judge_spec(name, None, 1, template=path)
    return Judge(spec, None)


def vip_calls():
    for split in ("vip_bench_bbox", "vip_bench_human"):
        for item in VIP[split]["judge"]["items"]:
            first = item["calls"][0]["user"]["template"]
            question, gt, prediction, _ = first.removeprefix("{prompt}\n").split(" | ")
            reference = gt.replace(" <AND> ", "<AND>").replace(" <OR> ", "<OR>")
            reask = next((c["user"]["template"] for c in item["calls"][1:]), None)
            obj = reask.removeprefix("{prompt}\n").split(" | ")[0] if reask else None
            yield item, record(question, reference, prediction, template=obj), gt


def review_calls(subset: str):
    for item in LLAVA[subset]["review"]["items"]:
        found = REVIEW.match(item["user"]["template"])
        assert found, item["user"]["template"]
        yield (
            item,
            record(found["question"], found["a1"], found["a2"], context=found["context"], rule=item["rule"]),
            item["user"]["template"],
        )


def test_vip_bench_messages_are_the_evaluator_scripts(tmp_path):
    """Upstream's user message, rebuilt from the data's template with the stand-in's prose, is what vipbench sends;
    a re-ask asks the <obj> question with the script's own line. No system message, as upstream."""
    files = upstream_standins.write(tmp_path)
    judge = official_judge("vip-bench-mmvet", files["vip-bench-evaluator"])
    checked = 0
    for item, rec, _ in vip_calls():
        for n, call in enumerate(item["calls"]):
            sent = judge.messages(rec, reask=n > 0)
            expected = call["user"]["template"].format(prompt=upstream_standins.MADE_UP_PROMPT)
            assert sent == [{"role": "user", "content": expected}], (item["id"], n)
            checked += 1
    assert checked >= 16


@pytest.mark.parametrize("subset", ["llava_bench_wild", "llava_bench_coco"])
def test_llava_bench_messages_are_eval_gpt_reviews(tmp_path, subset):
    """The system message is upstream's (its sha256 in the data; a short constant in the judge YAML) and the user
    message is the review layout with the rule of the question's category from rule.json."""
    files = upstream_standins.write(tmp_path)
    judge = official_judge("llava-bench-review", files["llava-rule-json"])
    system = LLAVA[subset]["review"]["system_message"]
    for item, rec, template in review_calls(subset):
        system_msg, user = judge.messages(rec)
        assert system_msg["role"] == "system" and user["role"] == "user"
        assert (
            hashlib.sha256(system_msg["content"].encode()).hexdigest() == system["sha256"] == item["system"]["sha256"]
        )
        assert user["content"] == template.format(rule_prompt=upstream_standins.made_up_rule(item["rule"]))


def _real_file(name: str) -> Path | None:
    """Upstream's real file where a developer has it: the user cache vipbench would have downloaded it to, or the
    folder $VIPBENCH_UPSTREAM_FILES (never in CI: the prose is not in this repository)."""
    import os

    pin = PINNED[name]
    folders = [Path(os.environ["VIPBENCH_UPSTREAM_FILES"])] if os.environ.get("VIPBENCH_UPSTREAM_FILES") else []
    folders.append(Path.home() / ".cache" / "vipbench" / "upstream" / pin.repo.replace("/", "+") / pin.commit)
    for folder in folders:
        path = folder / Path(pin.path).name
        if path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == pin.sha256:
            return path
    return None


def test_with_upstreams_real_files_every_message_has_upstreams_sha256():
    evaluator, rules = _real_file("vip-bench-evaluator"), _real_file("llava-rule-json")
    if not (evaluator and rules):
        pytest.skip(
            "upstream's vip-bench_evaluator.py and rule.json are not here (set VIPBENCH_UPSTREAM_FILES to a folder "
            "holding them at the pinned commits): their prose is not in this repository"
        )
    judge = official_judge("vip-bench-mmvet", evaluator)
    for item, rec, _ in vip_calls():
        for n, call in enumerate(item["calls"]):
            content = judge.messages(rec, reask=n > 0)[-1]["content"]
            assert hashlib.sha256(content.encode()).hexdigest() == call["user"]["sha256"], (item["id"], n)
    review = official_judge("llava-bench-review", rules)
    for subset in ("llava_bench_wild", "llava_bench_coco"):
        for item, rec, _ in review_calls(subset):
            digests = [hashlib.sha256(m["content"].encode()).hexdigest() for m in review.messages(rec)]
            assert digests == [item["system"]["sha256"], item["user"]["sha256"]], (subset, item["question_id"])


class _Files:
    """A loopback stand-in for raw.githubusercontent.com serving a folder, counting the requests."""

    def __init__(self, folder: Path):
        self.requests: list[str] = []
        outer = self

        class Handler(SimpleHTTPRequestHandler):
            def do_GET(self):
                outer.requests.append(self.path)
                super().do_GET()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(folder)))
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def _serve(root: Path, name: str, data: bytes) -> None:
    pin = PINNED[name]
    target = root / pin.repo / pin.commit / pin.path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)


def test_download_is_checked_by_sha256_then_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("VIPBENCH_CACHE", str(tmp_path / "cache"))  # not the session's, which other tests filled
    stand_in = upstream_standins.write(tmp_path / "src")["vip-bench-evaluator"]
    _serve(tmp_path / "site", "vip-bench-evaluator", stand_in.read_bytes())
    with _Files(tmp_path / "site") as site:
        monkeypatch.setenv("VIPBENCH_UPSTREAM_URL", site.url)
        # Not the pinned file (the real pin is upstream's sha256): refused, nothing cached.
        with pytest.raises(VipbenchError) as refused:
            official_file(PINNED["vip-bench-evaluator"])
        message = str(refused.value)
        assert "sha256" in message and "--judge-template PATH" in message and "--judge-prompt vipbench" in message
        assert f"{site.url}/WisconsinAIVision/ViP-LLaVA/77079b1e1990472598f1f8a6bb3f7f470100d191/" in message
        assert "\n" not in message and not PINNED["vip-bench-evaluator"].cache_path().exists()
        upstream_standins.pin(monkeypatch, "vip-bench-evaluator", stand_in)
        got = official_file(PINNED["vip-bench-evaluator"])
        assert got == PINNED["vip-bench-evaluator"].cache_path() and got.read_bytes() == stand_in.read_bytes()
        assert len(site.requests) == 2
    # Cached: no request, even with the site gone; a damaged copy is not used.
    assert official_file(PINNED["vip-bench-evaluator"]) == got
    got.write_text("damaged")
    assert official_file(PINNED["vip-bench-evaluator"], download=False) is None


def test_offline_judge_says_where_to_get_the_file_in_one_line(tmp_path, monkeypatch, vip_bench_dir, capsys):
    monkeypatch.delenv("VIPBENCH_JUDGE_PROMPT")
    with _Files(tmp_path / "empty") as site:
        dead = site.url
    monkeypatch.setenv("VIPBENCH_UPSTREAM_URL", dead)  # nothing listens there any more
    use_script({"v1_5": "stop"})
    run = ["run", "--model", "scripted", "--tasks", "vip-bench-bbox", "--data-dir", f"vip-bench={vip_bench_dir}"]
    assert main([*run, "--results", str(tmp_path), "--run-id", "r"]) == 0  # the run itself needs no download
    capsys.readouterr()
    with JudgeServer() as server:
        assert main(["judge", "r", "--results", str(tmp_path), "--base-url", server.url, "--runs", "1"]) == 2
        assert not server.bodies
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: the official judge prompt is upstream's WisconsinAIVision/ViP-LLaVA@77079b1")
        assert f"{dead}/WisconsinAIVision/ViP-LLaVA/" in err and "--judge-prompt vipbench" in err
        # vipbench's own wording, asked for: graded, and labelled as a deviation.
        code = main(["judge", "r", "--results", str(tmp_path), "--base-url", server.url, "--runs", "1"] + [
            "--judge-prompt", "vipbench"])  # fmt: skip
        assert code == 0
    unit = json.loads((tmp_path / "r" / "scores.json").read_text())["units"]["vip-bench-bbox"]
    assert unit["scored_by"]["deviations"] == [
        "judge prompt=vipbench (official: WisconsinAIVision/ViP-LLaVA@77079b1:scripts/eval/vip-bench_evaluator.py)"
    ]
    assert "judge prompt=vipbench (official:" in " ".join(capsys.readouterr().out.split())  # under the score table


MODEL_SCORES = {0: 6, 1: 4, 2: 9, 3: 8, 4: 10, 5: 7}


@pytest.fixture()
def both_run(tmp_path, vip_bench_dir):
    wild = fx.write_llava_bench_wild(tmp_path / "wild")
    use_script({**{str(q): f"Answer [[review:{s}]]" for q, s in MODEL_SCORES.items()}, "v1_5": "stop"})
    args = ["run", "--model", "scripted", "--tasks", "llava-bench-wild,vip-bench-bbox", "--data-dir"]
    args += [f"llava-bench-wild={wild}", "--data-dir", f"vip-bench={vip_bench_dir}", "--results", str(tmp_path)]
    assert main([*args, "--run-id", "both"]) == 0
    return tmp_path


def _judge_both(results: Path, *extra: str) -> tuple[int, list[dict], dict]:
    with JudgeServer() as server:
        code = main(["judge", "both", "--results", str(results), "--base-url", server.url, "--runs", "1", *extra])
        bodies = list(server.bodies)
    scores = results / "both" / "scores.json"
    return code, bodies, json.loads(scores.read_text())["units"] if scores.exists() else {}


def test_official_by_default_and_a_judge_template_goes_to_the_tasks_whose_judge_reads_it(both_run, monkeypatch):
    files = upstream_standins.install(monkeypatch, both_run / "upstream")
    code, bodies, units = _judge_both(both_run)
    assert code == 0
    vip = [b for b in bodies if b["model"] == "gpt-4-0613"]
    review = [b for b in bodies if b["model"] == "gpt-4-0314"]
    assert vip and all(b["messages"][0]["content"].startswith(upstream_standins.MADE_UP_PROMPT) for b in vip)
    assert review and all("MADE-UP RULE llava_bench_" in b["messages"][1]["content"] for b in review)
    assert {u: v["scored_by"]["deviations"] for u, v in units.items()} == {"llava-bench-wild": [], "vip-bench-bbox": []}
    label = PINNED["vip-bench-evaluator"].label
    assert units["vip-bench-bbox"]["scored_by"]["template"] == label

    # The user's own copy of the evaluator script: ViP-Bench only; LLaVA-Bench keeps upstream's rule.json.
    mine = both_run / "mine" / "vip-bench_evaluator.py"
    mine.parent.mkdir()
    mine.write_text(files["vip-bench-evaluator"].read_text().replace("MADE-UP GRADER", "MY GRADER"))
    code, bodies, units = _judge_both(both_run, "--judge-template", str(mine))
    assert code == 0
    assert all(b["messages"][0]["content"].startswith("MY GRADER") for b in bodies if b["model"] == "gpt-4-0613")
    assert all("MADE-UP RULE" in b["messages"][1]["content"] for b in bodies if b["model"] == "gpt-4-0314")
    assert units["vip-bench-bbox"]["scored_by"]["deviations"] == [f"judge prompt={mine} (official: {label})"]
    assert units["llava-bench-wild"]["scored_by"]["deviations"] == []


def test_judge_template_of_the_wrong_kind_is_one_error_line(both_run, monkeypatch, capsys):
    files = upstream_standins.install(monkeypatch, both_run / "upstream")
    rules, evaluator = files["llava-rule-json"], files["vip-bench-evaluator"]
    cases = [
        (f"vip-bench-*={rules}", "a rule file (.json), but vip-bench-bbox's judge reads a grader script (.py)"),
        (f"llava-bench-wild={evaluator}", "a grader script (.py), but llava-bench-wild's judge reads a rule file"),
        (f"pope={evaluator}", "no judged task matches 'pope'"),
    ]
    for value, expected in cases:
        capsys.readouterr()
        code, bodies, _ = _judge_both(both_run, "--judge-template", value)
        err = capsys.readouterr().err.strip()
        assert code == 2 and not bodies and expected in err and err.count("\n") == 0, err


def test_a_rule_json_for_a_run_without_llava_bench_is_an_error(tmp_path, monkeypatch, vip_bench_dir, capsys):
    files = upstream_standins.install(monkeypatch, tmp_path / "upstream")
    use_script({"v1_5": "stop"})
    run = ["run", "--model", "scripted", "--tasks", "vip-bench-bbox", "--data-dir", f"vip-bench={vip_bench_dir}"]
    assert main([*run, "--results", str(tmp_path), "--run-id", "r"]) == 0
    capsys.readouterr()
    with JudgeServer() as server:
        args = ["judge", "r", "--results", str(tmp_path), "--base-url", server.url]
        assert main([*args, "--judge-template", str(files["llava-rule-json"])]) == 2
    err = capsys.readouterr().err
    assert "no judged task of this run reads one (its judge would read llava/eval/table/rule.json" in err


def test_the_judge_yamls_pin_upstreams_files():
    assert load_judge("vip-bench-mmvet").upstream.path == "scripts/eval/vip-bench_evaluator.py"
    assert load_judge("llava-bench-review").upstream.kind == "rules"
    # Pinned by commit as the reference data's generator ran them.
    assert PINNED["vip-bench-evaluator"].commit == VIP["upstream"]["commit"]
    assert PINNED["llava-rule-json"].commit == LLAVA["upstream"]["commit"]
    # vipbench's own wording is a template of its own, kept apart from upstream's prose.
    own = load_template(load_judge("vip-bench-mmvet").template)
    assert not own.official and "{{ question }}" in own.text
