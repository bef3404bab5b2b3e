"""The graph's nodes: think → act → observe → (think | finish), and plan waves."""

from orchestrator.nodes.act import act
from orchestrator.nodes.finish import finish
from orchestrator.nodes.observe import observe
from orchestrator.nodes.plan_wave import plan_wave
from orchestrator.nodes.routing import after_observe, after_think, at_start
from orchestrator.nodes.think import think

__all__ = ["act", "after_observe", "after_think", "at_start", "finish", "observe", "plan_wave", "think"]
