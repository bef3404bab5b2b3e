"""The graph's nodes: think → act → observe → (think | finish), and plan waves."""

from orchestrator.agent.nodes.act import act
from orchestrator.agent.nodes.finish import finish
from orchestrator.agent.nodes.observe import observe
from orchestrator.agent.nodes.plan_wave import plan_wave
from orchestrator.agent.nodes.routing import after_observe, after_think, at_start
from orchestrator.agent.nodes.think import think

__all__ = ["act", "after_observe", "after_think", "at_start", "finish", "observe", "plan_wave", "think"]
