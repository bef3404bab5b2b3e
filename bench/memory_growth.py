"""Memory growth over one long session: mm-reactor vs. LangGraph's prebuilt ReAct agent.

Run: ``python bench/memory_growth.py [--tasks 200] [--postgres | --postgres-url URL]``.

One embedded Ray with one ``crop`` deployment. Each task brings a small new image, and the same
scripted model asks for one crop of it and then answers (two controller turns). Both agents run
the tasks in one session each, alternating task by task so drift hits both alike, with synchronous
checkpoints in their own database of the same kind (SQLite files side by side, or two schemas of
one PostgreSQL database):

- mm-reactor:      ``Orchestrator.run(..., session=...)`` with a scripted controller (text replies).
- prebuilt ReAct:  ``langgraph.prebuilt.create_react_agent`` with a ``ToolNode`` whose ``crop`` tool
                   calls the same Serve handle, and a chat model replaying the same script as tool
                   calls; its images live in a dict in this process (it has no artifact table).

Printed side by side: the session's stored bytes (checkpoint rows, their blobs and writes) after
1/4, 1/2 and all of the tasks, and on disk at the end; bytes written per controller turn over the
first, middle and last quarter of the tasks (the mean, and the median task's: snapshots aside);
the time of task 1 and of the last task, and the medians of the first and last five, in wall time
and in this process's CPU time (the driver's work, less disturbed than wall time by other load on
the machine). Targets (mm-reactor, 200 tasks): <= 20 MB stored, last task <= 1.3x task 1, bytes
per turn independent of how long the session already is.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("RAY_AUTH_MODE", "disabled")

SESSION = "bench-long-session"
BOX = [0, 0, 16, 12]
TURNS_PER_TASK = 2


def image(i: int) -> np.ndarray:
    return np.random.default_rng(i).integers(0, 255, (48, 64, 3), dtype=np.uint8)


def task_text(i: int, handle: str) -> str:
    return f"task {i}: crop the top-left corner of {handle} and say which handle holds it"


# -- sizes -------------------------------------------------------------------------------------------------
class SqliteBytes:
    """Stored bytes of one thread in a LangGraph SQLite checkpoint file, and the file's size on disk."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def stored(self, thread: str) -> int:
        with sqlite3.connect(self.path) as db:
            (checkpoints,) = db.execute(
                "SELECT coalesce(sum(length(checkpoint) + length(metadata)), 0) FROM checkpoints "
                "WHERE thread_id = ?",
                (thread,),
            ).fetchone()
            (writes,) = db.execute(
                "SELECT coalesce(sum(length(value)), 0) FROM writes WHERE thread_id = ?", (thread,)
            ).fetchone()
        return int(checkpoints) + int(writes)

    def on_disk(self) -> int:
        """The file and its WAL after moving the WAL's pages into the file (as SQLite does by itself)."""
        with sqlite3.connect(self.path) as db:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return sum(p.stat().st_size for p in self.path.parent.glob(self.path.name + "*"))


class PostgresBytes:
    """Stored bytes of one thread in a LangGraph PostgreSQL schema, and the schema's tables on disk."""

    def __init__(self, url: str, schema: str) -> None:
        import psycopg

        self.connection = psycopg.connect(url, autocommit=True)
        self.schema = schema

    def stored(self, thread: str) -> int:
        total = 0
        for table, columns in (
            ("checkpoints", "pg_column_size(checkpoint) + pg_column_size(metadata)"),
            ("checkpoint_blobs", "coalesce(pg_column_size(blob), 0)"),
            ("checkpoint_writes", "pg_column_size(blob)"),
        ):
            row = self.connection.execute(
                f"SELECT coalesce(sum({columns}), 0) FROM {self.schema}.{table} WHERE thread_id = %s",
                (thread,),
            ).fetchone()
            total += int(row[0]) if row else 0
        return total

    def on_disk(self) -> int:
        row = self.connection.execute(
            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relkind = 'r'",
            (self.schema,),
        ).fetchone()
        return int(row[0]) if row else 0


# -- the two agents ----------------------------------------------------------------------------------------
class Reactor:
    """mm-reactor: one ``Orchestrator.run`` per task on one session."""

    name = "mm-reactor"

    def __init__(self, orch: Any) -> None:
        self.orch = orch

    def run(self, i: int, session: str = SESSION) -> None:
        """Task ``i`` of ``session`` (its input becomes ``image-(2i-1)``, the crop ``image-2i``)."""
        from llm.scripted import ScriptedChatModel

        source, output = f"image-{2 * i - 1}", f"image-{2 * i}"
        arguments = json.dumps({"image": source, "box": BOX})
        script = ScriptedChatModel(
            [
                f"Thought: crop the corner\nAction: crop\nAction Input: {arguments}",
                f"Thought: done\nFinal Answer: the corner is {output}",
            ]
        )
        result = self.orch.run(task_text(i, source), images=[image(i)], session=session, chat_model=script)
        assert result.ok and output in result.artifacts, result.failure


class Prebuilt:
    """LangGraph's prebuilt ReAct agent: a ``ToolNode`` calling the same crop deployment."""

    name = "prebuilt ReAct"

    def __init__(self, crop_handle: Any, checkpointer: Any) -> None:
        import ray
        from langchain_core.tools import tool
        from langgraph.prebuilt import ToolNode, create_react_agent

        from experts.protocol import PixelRef, Reply, pixel_content_id

        self._ray, self._content_id = ray, pixel_content_id
        self.pixels: dict[str, tuple[str, Any]] = {}  # handle -> (content id, object ref)
        self._numbers = itertools.count(1)

        @tool
        def crop(image: str, box: list[int]) -> str:
            """Crop an image (by handle) to a box [x0, y0, x1, y1]; returns the new image's handle."""
            content_id, ref = self.pixels[image]
            answer = crop_handle.remote({"image": PixelRef(image, "image", content_id, ref), "box": box})
            reply = Reply.model_validate(answer.result(timeout_s=60))
            if reply.error is not None:
                return json.dumps({"error": reply.error.message})
            new = reply.artifacts[0]
            handle = f"image-{next(self._numbers)}"
            self.pixels[handle] = (str(new.content_id), new.ref)
            return json.dumps({"image": {"handle": handle, "size": new.shape}, "box": reply.output["box"]})

        with warnings.catch_warnings():  # it moved to langchain.agents; the issue asks for this one
            warnings.simplefilter("ignore")
            self.agent = create_react_agent(
                scripted_tool_model(), ToolNode([crop]), checkpointer=checkpointer
            )

    def run(self, i: int, session: str = SESSION) -> None:
        from langchain_core.messages import HumanMessage

        array = image(i)
        handle = f"image-{next(self._numbers)}"
        self.pixels[handle] = (self._content_id("image", array), self._ray.put(array))
        config = {"configurable": {"thread_id": session}}
        state = self.agent.invoke(
            {"messages": [HumanMessage(task_text(i, handle))]}, config, durability="sync"
        )
        assert "the corner is" in state["messages"][-1].content


def _scripted_reply(messages: Sequence[Any]) -> Any:
    """The same script as mm-reactor's, as tool calls: crop the new image, then answer."""
    from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

    last = messages[-1]
    if isinstance(last, HumanMessage):
        source = str(last.content).split(" of ", 1)[1].split()[0]
        call = {"name": "crop", "args": {"image": source, "box": BOX}, "id": f"call-{len(messages)}"}
        return AIMessage(content="crop the corner", tool_calls=[call])
    assert isinstance(last, ToolMessage), last
    return AIMessage(content=f"the corner is {json.loads(str(last.content))['image']['handle']}")


def _model_class() -> type:
    from langchain_core.language_models.chat_models import BaseChatModel
    from langchain_core.outputs import ChatGeneration, ChatResult

    class ScriptedToolModel(BaseChatModel):
        """Replays the bench's script as native tool calls (no weights, no network)."""

        @property
        def _llm_type(self) -> str:
            return "scripted-tools"

        def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
            return self

        def _generate(self, messages: list[Any], stop: Any = None, run_manager: Any = None, **kw: Any) -> Any:
            return ChatResult(generations=[ChatGeneration(message=_scripted_reply(messages))])

    return ScriptedToolModel


def scripted_tool_model() -> Any:
    """A chat model replaying the script as tool calls."""
    return _model_class()()


# -- the run -----------------------------------------------------------------------------------------------
def open_prebuilt_saver(args: argparse.Namespace, root: Path) -> tuple[Any, Any, Callable[[], None]]:
    """The prebuilt agent's checkpointer, its size probe and how to close it."""
    if args.postgres_url:
        import psycopg
        from langgraph.checkpoint.postgres import PostgresSaver
        from psycopg.rows import dict_row

        with psycopg.connect(args.postgres_url, autocommit=True) as admin:
            admin.execute("CREATE SCHEMA IF NOT EXISTS prebuilt_bench")
        connection = psycopg.connect(
            args.postgres_url,
            autocommit=True,
            prepare_threshold=0,
            row_factory=dict_row,
            options="-c search_path=prebuilt_bench",
        )
        saver = PostgresSaver(connection)
        saver.setup()
        return saver, PostgresBytes(args.postgres_url, "prebuilt_bench"), connection.close
    from langgraph.checkpoint.sqlite import SqliteSaver

    path = root / "prebuilt.sqlite"
    connection = sqlite3.connect(path, check_same_thread=False)
    connection.execute("PRAGMA journal_mode=WAL")  # as mm-reactor opens its own
    connection.execute("PRAGMA synchronous=NORMAL")
    return SqliteSaver(connection), SqliteBytes(path), connection.close


def measure(agents: list[Any], probes: list[Any], tasks: int) -> dict[str, dict[str, Any]]:
    """Run the tasks alternating between the agents; per agent, seconds and stored bytes per task."""
    figures: dict[str, dict[str, Any]] = {a.name: {"seconds": [], "cpu": [], "bytes": []} for a in agents}
    for i in range(1, tasks + 1):
        for agent, probe in zip(agents, probes, strict=True):
            started, cpu = time.perf_counter(), time.process_time()
            agent.run(i)
            figures[agent.name]["seconds"].append(time.perf_counter() - started)
            figures[agent.name]["cpu"].append(time.process_time() - cpu)
            figures[agent.name]["bytes"].append(probe.stored(SESSION))
        if i % 25 == 0:
            print(f"  {i}/{tasks} tasks", file=sys.stderr, flush=True)
    for agent, probe in zip(agents, probes, strict=True):
        figures[agent.name]["disk"] = probe.on_disk()
    return figures


def per_turn(stored: list[int], first: int, last: int) -> float:
    """Mean bytes written per controller turn over tasks ``first``..``last`` (1-based)."""
    before = stored[first - 2] if first > 1 else 0
    return (stored[last - 1] - before) / ((last - first + 1) * TURNS_PER_TASK)


def typical_turn(stored: list[int], first: int, last: int) -> float:
    """The median task's bytes per controller turn over tasks ``first``..``last`` (snapshots aside)."""
    written = [stored[i - 1] - (stored[i - 2] if i > 1 else 0) for i in range(first, last + 1)]
    return statistics.median(written) / TURNS_PER_TASK


def report(figures: dict[str, dict[str, Any]], tasks: int, backend: str) -> None:
    names = list(figures)
    mb = 1e6

    def row(label: str, values: list[str]) -> None:
        print(f"{label:<40}" + "".join(f"{v:>18}" for v in values))

    print(f"\nmemory growth: {tasks} tasks (crop + answer) in one session, checkpoints in {backend}")
    row("", names)
    for n in sorted({max(1, tasks // 4), max(1, tasks // 2), tasks}):
        row(f"stored after {n} tasks", [f"{figures[k]['bytes'][n - 1] / mb:.2f} MB" for k in names])
    row(f"on disk after {tasks} tasks", [f"{figures[k]['disk'] / mb:.2f} MB" for k in names])
    quarter = max(1, tasks // 4)  # about one snapshot period of mm-reactor's history channels
    windows = [
        (1, quarter),
        ((tasks - quarter) // 2 + 1, (tasks + quarter) // 2),
        (tasks - quarter + 1, tasks),
    ]
    for first, last in windows:
        label = f"bytes per turn, tasks {first}-{last}"
        row(label, [f"{per_turn(figures[k]['bytes'], first, last) / 1e3:.1f} kB" for k in names])
    for first, last in windows:
        label = f"  median task's, tasks {first}-{last}"
        row(label, [f"{typical_turn(figures[k]['bytes'], first, last) / 1e3:.1f} kB" for k in names])
    row("task 1 (ms)", [f"{figures[k]['seconds'][0] * 1e3:.1f}" for k in names])
    row(f"task {tasks} (ms)", [f"{figures[k]['seconds'][-1] * 1e3:.1f}" for k in names])
    five = min(5, tasks)
    for what, label in (("seconds", "wall"), ("cpu", "driver CPU")):
        first = {k: statistics.median(figures[k][what][:five]) for k in names}
        last = {k: statistics.median(figures[k][what][-five:]) for k in names}
        row(f"{label}, median tasks 1-{five} (ms)", [f"{first[k] * 1e3:.1f}" for k in names])
        row(f"{label}, median tasks {tasks - five + 1}-{tasks} (ms)", [f"{last[k] * 1e3:.1f}" for k in names])
        row(f"{label}, last / first", [f"{last[k] / first[k]:.2f}x" for k in names])
    ours = figures[names[0]]
    growth = per_turn(ours["bytes"], *windows[-1]) / per_turn(ours["bytes"], *windows[0])
    print(
        f"\ntargets ({names[0]}): stored <= 20 MB after 200 tasks; last task <= 1.3x task 1; bytes per turn "
        f"independent of history (last quarter / first quarter here: {growth:.2f}x)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--postgres-url", default=None, help="checkpoint in PostgreSQL (default: SQLite)")
    parser.add_argument("--postgres", action="store_true", help="start a private PostgreSQL server for it")
    args = parser.parse_args()
    server = None
    if args.postgres and not args.postgres_url:
        from tests.support.postgres import PostgresServer, find_postgres_bin

        bin_dir = find_postgres_bin()
        if bin_dir is None:
            raise SystemExit("--postgres needs the PostgreSQL server binaries (apt-get install postgresql)")
        server = PostgresServer(bin_dir, database="mmr_bench")
        server.start()
        args.postgres_url = server.url

    from orchestrator import Orchestrator

    root = Path(tempfile.mkdtemp(prefix="mmr-memory-", dir="/tmp"))
    config: dict[str, Any] = {
        "data_dir": str(root / "data"),
        "experts": {"crop": {"ray_actor_options": {"num_cpus": 0.5}}},
        "ray": {"app_prefix": "memory-bench-"},
    }
    if args.postgres_url:
        config |= {"checkpointer": "postgres", "postgres_url": args.postgres_url}
    try:
        with Orchestrator.local(config) as orch:
            ours_probe: Any = (
                PostgresBytes(args.postgres_url, "public")
                if args.postgres_url
                else SqliteBytes(root / "data" / "sessions.sqlite")
            )
            saver, prebuilt_probe, close = open_prebuilt_saver(args, root)
            try:
                agents = [Reactor(orch), Prebuilt(orch.runtime.catalogue.get("crop").handle, saver)]
                for agent in agents:  # first calls (replica, tables, imports) in a session of their own
                    agent.run(1, session="warm-up")
                figures = measure(agents, [ours_probe, prebuilt_probe], args.tasks)
            finally:
                close()
    finally:
        if server is not None:
            server.stop()
    report(figures, args.tasks, "PostgreSQL" if args.postgres_url else "SQLite")


if __name__ == "__main__":
    main()
