"""Real-weight tests: skipped, with what to provide, unless ``$MM_REACTOR_WEIGHTS`` names a directory."""

from __future__ import annotations

import pytest

from tests.weights.layout import skip_reason


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    marked = [item for item in items if item.get_closest_marker("weights")]
    reason = skip_reason() if marked else None
    for item in marked if reason else ():
        item.add_marker(pytest.mark.skip(reason=reason))
