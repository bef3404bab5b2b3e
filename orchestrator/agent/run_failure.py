"""The last line of defence: a run whose graph raised is recorded as failed, with the cause.

Nothing the controller writes should make a node raise (its replies are parsed, its arguments and
plans normalised); an expert's failure is an observation. Should a bug or a fault still escape the
graph, :func:`record_failure` writes the run's end into the session as a failure -- its run record,
a note in the transcript -- so the session does not show it as pending, and the caller gets a
failed Result naming the cause instead of an exception.
"""

from __future__ import annotations

import logging
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph

from orchestrator.agent.normalise import clean_text
from orchestrator.agent.state import seal
from prompts import render

__all__ = ["record_failure"]

log = logging.getLogger(__name__)


def _entries(transcript: Any) -> list[Any]:
    """A run input's transcript entries, sealed (``{"append": [...]}``) or not."""
    if isinstance(transcript, dict):
        return list(transcript.get("append") or [])
    return list(transcript or [])


def record_failure(
    graph: CompiledStateGraph[Any, Any, Any, Any], thread: RunnableConfig, graph_input: Any, error: Exception
) -> str:
    """Record the run as failed because of ``error``; returns the failure text.

    ``graph_input`` is what the run started with (a new run's input, or None/a Command on resume): when
    the error came before the run's input was stored, that input is stored with the failure.
    Raises ``error`` again when the failure cannot be recorded either.
    """
    reason = clean_text(f"the run stopped on an unexpected error: {type(error).__name__}: {error}")[:2000]
    log.error("run failed on an unexpected error", exc_info=error)
    try:
        values = graph.get_state(thread).values
        fresh = graph_input if isinstance(graph_input, dict) else {}
        stored = not fresh or values.get("run_id") == fresh.get("run_id")
        run_id = values.get("run_id") if stored else fresh.get("run_id")
        update: dict[str, Any] = {} if stored else dict(fresh)
        record = {"run_id": run_id, "status": "failed", "failure": reason}
        if not stored:
            record = {**fresh.get("runs", [{}])[0], **record}
        note = {"role": "user", "content": render("failure", reason=reason)}
        update |= {
            "status": "failed",
            "failure": reason,
            "answer": None,
            "pending": [],
            "outcomes": [],
            "plan": None,
            "transcript": [*_entries(update.get("transcript")), note],
            "runs": [record],
        }
        graph.update_state(thread, seal(update), as_node="finish")
    except Exception as also:
        log.error("the failed run could not be recorded either", exc_info=also)
        raise error from also
    return reason
