"""What went wrong with a call that got no reply from its replica, in words for the controller.

Ray's errors name worker processes (actor id, pid, node address): those go to the step's trace and
the log; the controller reads what happened and what to do.
"""

from __future__ import annotations

from ray.exceptions import NodeDiedError, RayActorError, WorkerCrashedError
from ray.serve.exceptions import BackPressureError, DeploymentUnavailableError, ReplicaUnavailableError

__all__ = ["replica_lost", "unreachable"]

_LOST = (RayActorError, WorkerCrashedError, NodeDiedError, ReplicaUnavailableError)


def replica_lost(err: BaseException) -> bool:
    """Whether ``err`` means the replica died (killed, crashed, its node gone) before it answered."""
    return isinstance(err, _LOST)


def unreachable(expert: str, err: BaseException) -> str:
    """The controller's account of a call that got no reply (without process ids or addresses)."""
    if replica_lost(err):
        return f"the replica running {expert} stopped before it answered ({type(err).__name__})"
    if isinstance(err, BackPressureError):
        return f"{expert} is overloaded (too many calls waiting); try again later or call it less at once"
    if isinstance(err, DeploymentUnavailableError):
        return f"{expert} is not deployed any more; use another expert"
    return f"{expert} could not be reached ({type(err).__name__})"
