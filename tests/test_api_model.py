"""API models (``openai:<model>``) against the loopback OpenAI-compatible server, through the real openai client:
the image sent is the overlaid one, answers come back in order, the reply cache and the chat client's faults
behave as the judge's do."""

from __future__ import annotations

import base64
import io
import json

import pytest
from judge_server import JudgeServer
from PIL import Image, ImageChops

from vipbench.cli import main
from vipbench.models import create_model
from vipbench.models.base import GenerationSettings
from vipbench.prompting import request_image
from vipbench.tasks import TaskIndex

GREEDY = GenerationSettings(max_new_tokens=16, temperature=0.0)


@pytest.fixture()
def requests(vip_bench_dir):
    task = TaskIndex().task("vip-bench-bbox")
    return [task.build_request(s, "overlay", "arrow") for s in task.load_samples(vip_bench_dir)[:3]]


def decode(url: str) -> Image.Image:
    header, data = url.split(",", 1)
    assert header == "data:image/png;base64"
    return Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB")


def test_the_image_sent_is_the_overlaid_one_and_answers_keep_their_order(requests):
    answers = {r.text: f"answer {i}" for i, r in enumerate(requests)}
    with JudgeServer(vision_answers=answers) as server:
        model = create_model("openai:some-vlm", base_url=server.url)
        assert model.generate(requests, GREEDY) == ["answer 0", "answer 1", "answer 2"]
        assert {b["model"] for b in server.bodies} == {"some-vlm"}
        assert all(b["temperature"] == 0.0 and b["max_tokens"] == 16 for b in server.bodies)
        sent = {
            b["messages"][0]["content"][1]["text"]: decode(b["messages"][0]["content"][0]["image_url"]["url"])
            for b in server.bodies
        }
    for request in requests:
        drawn = request_image(request)
        assert ImageChops.difference(sent[request.text], drawn).getbbox() is None  # pixel for pixel
        with Image.open(request.image_path) as clean:
            assert ImageChops.difference(sent[request.text], clean.convert("RGB")).getbbox() is not None  # arrow drawn


def test_replies_are_cached_and_a_dead_endpoint_stops_at_once(requests, tmp_path):
    with JudgeServer() as server:
        model = create_model("openai:some-vlm", base_url=server.url)
        model.generate(requests, GREEDY)
        first = server.requests
        model.generate(requests, GREEDY)
        assert first == 3 and server.requests == 3  # the second time, every answer came from the cache
        assert "3 cached" in model.report()
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    dead = create_model("openai:some-vlm", base_url=f"http://127.0.0.1:{port}/v1")
    with pytest.raises(Exception, match=r"cannot reach the model endpoint http://127.0.0.1:\d+/v1"):
        dead.generate(requests[:1], GenerationSettings(max_new_tokens=5))


def test_vipbench_run_with_an_api_model(tmp_path, vip_bench_dir, capsys):
    with JudgeServer(vision_answers={}) as server:
        args = ["run", "--model", "openai:my-vlm", "--model-args", f"base_url={server.url},image_format=png"]
        args += ["--tasks", "vip-synth", "--limit", "10", "--results", str(tmp_path), "--run-id", "api"]
        assert main(args) == 0
        assert server.requests == 10
    manifest = json.loads((tmp_path / "api" / "manifest.json").read_text())
    assert manifest["model"]["adapter"] == "OpenAIChatAdapter" and manifest["model"]["model"] == "my-vlm"
    lines = (tmp_path / "api" / "predictions.jsonl").read_text().splitlines()
    assert len(lines) == 10 and all(json.loads(line)["prediction"] == "I see an image." for line in lines)
    assert "my-vlm: 10 HTTP requests (0 retries), 0 cached" in capsys.readouterr().err
    assert main(["run", "--model", "openai:", "--tasks", "vip-synth", "--results", str(tmp_path)]) == 2
    assert main(["run", "--model", "openai:x", "--model-args", "modle=y", "--tasks", "vip-synth"]) == 2
    assert "model 'openai:x' has no argument 'modle'; it takes base_url" in capsys.readouterr().err
