"""What the ``reactor`` command prints: plain text on a console, progress where it is a terminal."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from rich import box
from rich.console import Console
from rich.table import Table

from orchestrator.events import Event
from orchestrator.result import Result

__all__ = ["clip", "console", "finish", "print_result", "progress", "show"]


def console(file: TextIO | None = None) -> Console:
    """A console on ``file`` or the current stdout (looked up per call, so redirected output is honoured).

    Plain text: no markup, highlighting or wrapping of long lines, and no colour or spinners
    unless the output is a terminal.
    """
    return Console(file=file, highlight=False, markup=False, emoji=False, soft_wrap=True)


@contextmanager
def progress(con: Console, text: str, *, echo: bool = True) -> Iterator[None]:
    """A spinner with ``text`` on a terminal; where output is redirected, the plain line (``echo``)."""
    if con.is_terminal:
        with con.status(text):
            yield
    else:
        if echo:
            con.print(text)
        yield


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def print_result(result: Result, out_dir: Path) -> None:
    """The controller's thoughts per turn, a table of the calls, the artifacts and the answer."""
    con = console()
    con.print(
        f"\ncontroller: {result.controller}"
        + ("  [REPLAY: replies are scripted, not generated]" if result.replay else "")
    )
    thoughts = {step.turn: step.thought for step in result.steps if step.thought}
    for turn, thought in sorted(thoughts.items()):
        con.print(f"  turn {turn}: {thought}", style="italic")
    table = Table("step", "call", "replica", "ms", "result", box=box.SIMPLE_HEAD)
    for step in result.steps:
        if step.repairs:
            con.print(f"  step {step.index}: repaired the reply: {'; '.join(step.repairs)}", style="yellow")
        if step.tool:
            made = f"→ {', '.join(step.new_handles)}" if step.new_handles else "ok"
            label = f"error ({step.error_type})" if step.error_type else "error"
            table.add_row(
                str(step.index),
                f"{step.tool} {clip(json.dumps(step.arguments), 100)}",
                step.replica or "",
                f"{step.seconds * 1000:.0f}",
                f"{label}: {step.error}" if step.error else made,
                style="red" if step.error else None,
            )
        elif step.error:
            table.add_row(str(step.index), "controller", "", "", f"error: {step.error}", style="red")
        else:
            table.add_row(str(step.index), "final answer", "", "", "")
    con.print(table)
    saved = result.save_artifacts(out_dir)
    if saved:
        con.print(f"artifacts written to {out_dir}/: " + ", ".join(p.name for p in saved))
    if result.ok:
        con.print(f"\nanswer: {result.answer}")
    else:
        con.print(f"\nFAILED: {result.failure}", style="bold red")
    con.print(f"({len(result.steps)} steps, {result.seconds:.1f} s)")


def show(event: Event, out: TextIO | None = None, *, url: str | None = None) -> None:
    """One line per event, as it happens (``url``: the service the run is on, for the approve hint)."""
    out = out or sys.stdout  # looked up per call, so redirected output is honoured
    con = console(out)
    if event.type == "start":
        con.print(f"session {event.session} · run {event.run_id}" + (" (resumed)" if event.resumed else ""))
    elif event.type == "thought":
        con.print(f"• {event.text}" + (f" (repaired: {'; '.join(event.repairs)})" if event.repairs else ""))
    elif event.type == "plan":
        con.print(
            f"• plan of {len(event.steps)} steps"
            + (f" (repaired: {'; '.join(event.repairs)})" if event.repairs else "")
        )
    elif event.type == "tool_start":
        con.print(f"  … {event.tool} {json.dumps(event.arguments)[:120]}")
    elif event.type == "tool_end":
        if event.error:
            kind = f" [{event.error_type}]" if event.error_type else ""
            con.print(f"  ✗ {event.tool}{kind}: {event.error[:300]}", style="red")
        else:
            made = f" → {', '.join(event.new_handles)}" if event.new_handles else ""
            con.print(f"  ✓ {event.tool} {event.seconds * 1000:.0f} ms{made}", style="green")
    elif event.type == "approval":
        calls = "; ".join(f"{c['tool']} {json.dumps(c['arguments'])}" for c in event.calls)
        where = f" --url {url}" if url else ""
        con.print(
            f"  ? waiting for approval: {calls}\n    approve: reactor approve {event.session}{where}"
            f"   deny: reactor approve {event.session}{where} --deny --reason '…'",
            style="yellow",
        )
    elif event.type == "error":
        con.print(("FAILED: " if event.fatal else "  ! ") + event.message, style="red")
    elif event.type == "answer":
        con.print(f"answer: {event.text}", style="bold")


def finish(result: Result, out_dir: Path) -> int:
    saved = result.save_artifacts(out_dir)
    if saved:
        print(f"artifacts written to {out_dir}/: " + ", ".join(p.name for p in saved))
    return {"answered": 0, "pending": 3}.get(result.status, 1)
