"""Run in a subprocess by tests/test_safe_defaults.py: an embedded Ray from ``Orchestrator.local()``.

The environment holds the controller's key (and RAY_AUTH_MODE is unset). Prints one JSON line: every
listening socket of the orchestrator's processes, what an expert replica sees of the key, and what
the orchestrator's own process kept.
"""

from __future__ import annotations

import json
import os
import sys

import psutil

from llm.scripted import ScriptedChatModel
from orchestrator import Orchestrator


def _listening() -> list[dict[str, object]]:
    me = psutil.Process()
    processes = {p.pid: p for p in [me, *me.children(recursive=True)]}
    found = []
    for conn in psutil.net_connections(kind="inet"):
        if conn.status == psutil.CONN_LISTEN and conn.pid in processes:
            name = " ".join(processes[conn.pid].cmdline()[:1])[-60:]
            found.append({"ip": conn.laddr.ip, "port": conn.laddr.port, "process": name})
    return found


def main(data_dir: str) -> None:
    key = os.environ["MM_REACTOR_LLM_API_KEY"]
    config = {
        "data_dir": data_dir,
        "ray": {"num_cpus": 2},
        "experts": {"env_probe": {"class": "tests.support.experts:EnvProbe"}},
    }
    call = json.dumps({"needle": key})
    script = ScriptedChatModel(
        [f"Thought: look\nAction: env_probe\nAction Input: {call}", "Final Answer: seen"]
    )
    with Orchestrator.local(config) as orch:
        result = orch.run("look around", chat_model=script)
        (step,) = [s for s in result.steps if s.tool]
        report = {
            "sockets": _listening(),
            "replica": json.loads(step.observation)["output"],
            "auth_mode": os.environ.get("RAY_AUTH_MODE"),
            "driver_kept_env": os.environ.get("MM_REACTOR_LLM_API_KEY") == key,
            "config_dump_has_key": key in json.dumps(orch.config.model_dump(mode="json")),
            "key_resolved": orch.config.controller.resolved_api_key() == key,
        }
    print(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1])
