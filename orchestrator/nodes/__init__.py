"""The graph's nodes: think → act → observe → (think | finish)."""

from orchestrator.nodes.act import act
from orchestrator.nodes.finish import finish
from orchestrator.nodes.observe import observe
from orchestrator.nodes.routing import after_observe, after_think
from orchestrator.nodes.think import think

__all__ = ["act", "after_observe", "after_think", "finish", "observe", "think"]
