"""The MM-ReAct loop as a LangGraph graph. This module only wires nodes and edges."""

from __future__ import annotations

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

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
from orchestrator.agent.state import AgentState

__all__ = ["build_graph"]


def build_graph(
    checkpointer: BaseCheckpointSaver | None,
) -> CompiledStateGraph[AgentState, RunContext, AgentState, AgentState]:
    """think → act → observe → (think | finish); a plan runs plan_wave → act → observe per wave."""
    graph = StateGraph(AgentState, context_schema=RunContext)
    graph.add_node("think", think)
    graph.add_node("plan_wave", plan_wave)
    graph.add_node("act", act)
    graph.add_node("observe", observe)
    graph.add_node("finish", finish)
    graph.add_conditional_edges(START, at_start, ["think", "plan_wave"])
    graph.add_conditional_edges("think", after_think, ["act", "plan_wave", "think", "finish"])
    graph.add_edge("plan_wave", "act")
    graph.add_edge("act", "observe")
    graph.add_conditional_edges("observe", after_observe, ["plan_wave", "think", "finish"])
    graph.add_edge("finish", END)
    return graph.compile(checkpointer=checkpointer)
