"""Checks every model adapter must pass. A test class mixes this in and provides the fixtures
``adapter`` (a built adapter) and ``requests`` (at least 8 requests in a mode the adapter reads)."""

from __future__ import annotations

from vipbench.models.base import GenerationSettings

GREEDY = GenerationSettings(max_new_tokens=8, temperature=0.0)


class AdapterContract:
    def test_one_answer_per_request_in_order(self, adapter, requests):
        answers = adapter.generate(requests[:3], GREEDY)
        assert len(answers) == 3 and all(isinstance(a, str) for a in answers)
        assert adapter.generate(requests[2:3], GREEDY) == answers[2:3]

    def test_greedy_batch_of_8_equals_batch_of_1(self, adapter, requests):
        batched = adapter.generate(requests[:8], GREEDY)
        single = [adapter.generate([r], GREEDY)[0] for r in requests[:8]]
        assert batched == single

    def test_declares_region_modes_and_describes_itself(self, adapter, requests):
        assert set(adapter.region_modes) <= {"overlay", "mask", "box", "coords", "point"}
        assert requests[0].region_mode in adapter.region_modes
        assert adapter.describe()["adapter"] == type(adapter).__name__
