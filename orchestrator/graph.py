"""The MM-ReAct loop as a LangGraph graph. This module only wires nodes and edges."""

from __future__ import annotations

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from orchestrator.context import RunContext
from orchestrator.nodes import act, after_observe, after_think, finish, observe, think
from orchestrator.state import AgentState

__all__ = ["build_graph"]


def build_graph(
    checkpointer: BaseCheckpointSaver | None,
) -> CompiledStateGraph[AgentState, RunContext, AgentState, AgentState]:
    """think → act → observe → (think | finish); think may also go straight to finish."""
    graph = StateGraph(AgentState, context_schema=RunContext)
    graph.add_node("think", think)
    graph.add_node("act", act)
    graph.add_node("observe", observe)
    graph.add_node("finish", finish)
    graph.add_edge(START, "think")
    graph.add_conditional_edges("think", after_think, ["act", "think", "finish"])
    graph.add_edge("act", "observe")
    graph.add_conditional_edges("observe", after_observe, ["think", "finish"])
    graph.add_edge("finish", END)
    return graph.compile(checkpointer=checkpointer)
