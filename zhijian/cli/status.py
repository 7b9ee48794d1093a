"""``zhijian status``: probe every component the supervisor started.

Exit codes, so that scripts and monitors can tell conditions apart (when several hold,
the first in this list wins):

- 0: every component serves;
- 1: not running, still starting or stopping, or a critical component is not serving;
- 4: degraded: every critical component serves, a non-critical one (the span sink) was
  left down after exhausting its restart budget.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from zhijian.cli.output import Output
from zhijian.config import HomeLayout, zhijian_home
from zhijian.leftovers import describe, find_leftovers, read_pids
from zhijian.supervisor import Readiness, pid_alive, pid_file_beside, read_state

EXIT_HEALTHY = 0
EXIT_DOWN = 1
EXIT_DEGRADED = 4


async def probe(components: list[dict[str, Any]]) -> list[bool]:
    checks = [Readiness(**c["readiness"]).check(timeout_s=2.0) for c in components]
    return list(await asyncio.gather(*checks))


def component_rows(components: list[dict[str, Any]], serving: list[bool]
                   ) -> list[dict[str, Any]]:
    return [{"name": c["name"], "serving": ok, "endpoint": c["endpoint"], "pid": c["pid"],
             "restarts": c["restarts"], "status": c.get("status", ""),
             # State files of an older `up` carry no criticality: every component was.
             "critical": c.get("critical", True), "degraded": c.get("degraded", "")}
            for c, ok in zip(components, serving, strict=True)]


def component_label(row: dict[str, Any]) -> str:
    if row["serving"]:
        return "serving"
    if row["status"] == "down" and not row["critical"]:
        return "DOWN, left down" + (f" ({row['degraded']})" if row["degraded"] else "")
    return "NOT SERVING"


def exit_code(phase: str, rows: list[dict[str, Any]]) -> int:
    if phase != "running" or not rows or not all(r["serving"] for r in rows if r["critical"]):
        return EXIT_DOWN
    if not all(r["serving"] for r in rows):
        return EXIT_DEGRADED
    return EXIT_HEALTHY


def cmd_status(args: argparse.Namespace, out: Output) -> int:
    layout = HomeLayout(zhijian_home())
    state = read_state(layout.state_file)
    if state is None or not pid_alive(int(state["supervisor_pid"])):
        leftovers = find_leftovers(read_pids(pid_file_beside(layout.state_file)))
        if leftovers:
            out.result({"running": False, "home": str(layout.root), "components": [],
                        "unsupervised": [{"component": left.component, "pid": left.pid}
                                         for left in leftovers]},
                       f"zhijian up under {layout.root} is gone, but its components still "
                       f"run unsupervised: {describe(leftovers)}; stop them with "
                       "`zhijian down`")
            return EXIT_DOWN
        out.result({"running": False, "home": str(layout.root), "components": []},
                   f"not running (no live supervisor under {layout.root}); start with `make run`")
        return EXIT_DOWN
    components = state["components"]
    rows = component_rows(components, asyncio.run(probe(components)))
    phase = state.get("phase", "starting")
    code = exit_code(phase, rows)
    headline = f"platform {phase}" + (", DEGRADED" if code == EXIT_DEGRADED else "")
    text = "\n".join(
        [headline, f"{'component':<24}{'state':<13}endpoint"]
        + [f"{r['name']:<24}{component_label(r):<13}{r['endpoint']}" for r in rows])
    out.result({"running": True, "phase": phase, "healthy": code == EXIT_HEALTHY,
                "degraded": code == EXIT_DEGRADED, "exit_code": code,
                "home": str(layout.root), "components": rows}, text)
    return code
