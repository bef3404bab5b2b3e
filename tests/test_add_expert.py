"""Adding experts at run time, placement settings, and dynamic batching, on the shared Ray."""

from __future__ import annotations

import pytest
from ray import serve

from orchestrator import ConfigError
from tests.experts.harness import call_tool, deployed, observation
from tests.support.experts import BatchProbe, Invert

pytestmark = pytest.mark.ray


def test_added_expert_is_deployed_and_in_the_prompt_without_restart(orch):
    assert "invert_twice" not in orch.system_prompt()
    with deployed(orch, Invert, name="invert_twice", num_replicas=2, num_cpus=0.05) as name:
        assert name in orch.experts
        assert "- invert_twice: Inverts the colours" in orch.system_prompt()
        status = serve.status().applications[f"test-{name}"].deployments[name]
        assert status.replica_states.get("RUNNING") == 2
        result = call_tool(orch, name, {"image": "image-1"}, images=[_png()])
        assert result.ok and result.artifacts["image-2"].producer == name
    assert "invert_twice" not in orch.experts and "invert_twice" not in orch.system_prompt()


def test_concurrent_calls_share_a_batch_and_errors_stay_per_item(orch):
    batching = {"max_batch_size": 8, "batch_wait_timeout_s": 0.2}
    with deployed(orch, BatchProbe, batching=batching, max_ongoing_requests=16):
        calls = [{"value": i} for i in range(6)] + [{"value": -1}]
        result = call_tool(orch, "batch_probe", calls, expect_errors={6})
        sizes = [observation(result, i)["output"]["batch_size"] for i in range(6)]
        assert max(sizes) > 1, sizes
        assert [observation(result, i)["output"]["value"] for i in range(6)] == list(range(6))
        assert "negative" in observation(result, 6)["error"]


def test_bad_add_expert_settings_are_clear(orch):
    with pytest.raises(ConfigError, match="no built-in expert named 'nope'"):
        orch.add_expert("nope")
    with pytest.raises(ConfigError, match="exceeds max_ongoing_requests"):
        orch.add_expert(BatchProbe, batching={"max_batch_size": 64}, max_ongoing_requests=4)
    with pytest.raises(ConfigError, match="no expert 'ghost' is deployed"):
        orch.remove_expert("ghost")


def _png() -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 6), "navy").save(buffer, format="PNG")
    return buffer.getvalue()
