"""The MM-ReAct loop as a LangGraph graph. This module only wires nodes and edges."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime

from orchestrator.agent.context import RunContext
from orchestrator.agent.nodes import (
    act,
    after_observe,
    after_think,
    at_start,
    finish,
    observe,
    plan_wave,
    think,
)
from orchestrator.agent.state import AgentState, seal

__all__ = ["build_graph"]

Node = Callable[..., dict[str, Any]]


def _sealed(node: Node) -> Node:
    """The node, with the transcript entries of its update sealed (see ``state.seal``)."""

    @functools.wraps(node)
    def run(state: AgentState, runtime: Runtime[RunContext]) -> dict[str, Any]:
        return seal(node(state, runtime))

    return run


def build_graph(
    checkpointer: BaseCheckpointSaver | None,
) -> CompiledStateGraph[AgentState, RunContext, AgentState, AgentState]:
    """think → act → observe → (think | finish); a plan runs plan_wave → act → observe per wave."""
    graph = StateGraph(AgentState, context_schema=RunContext)
    for name, node in (
        ("think", think),
        ("plan_wave", plan_wave),
        ("act", act),
        ("observe", observe),
        ("finish", finish),
    ):
        graph.add_node(name, _sealed(node))
    graph.add_conditional_edges(START, at_start, ["think", "plan_wave"])
    graph.add_conditional_edges("think", after_think, ["act", "plan_wave", "think", "finish"])
    graph.add_edge("plan_wave", "act")
    graph.add_edge("act", "observe")
    graph.add_conditional_edges("observe", after_observe, ["plan_wave", "think", "finish"])
    graph.add_edge("finish", END)
    return graph.compile(checkpointer=checkpointer)
