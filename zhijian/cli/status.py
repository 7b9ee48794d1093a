"""``zhijian status``: probe every component the supervisor started."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from zhijian.cli.output import Output
from zhijian.config import HomeLayout, zhijian_home
from zhijian.supervisor import Readiness, pid_alive, read_state


async def probe(components: list[dict[str, Any]]) -> list[bool]:
    checks = [Readiness(**c["readiness"]).check(timeout_s=2.0) for c in components]
    return list(await asyncio.gather(*checks))


def cmd_status(args: argparse.Namespace, out: Output) -> int:
    layout = HomeLayout(zhijian_home())
    state = read_state(layout.state_file)
    if state is None or not pid_alive(int(state["supervisor_pid"])):
        out.result({"running": False, "home": str(layout.root), "components": []},
                   f"not running (no live supervisor under {layout.root}); start with `make run`")
        return 1
    components = state["components"]
    serving = asyncio.run(probe(components))
    rows = [{"name": c["name"], "serving": ok, "endpoint": c["endpoint"], "pid": c["pid"],
             "restarts": c["restarts"]} for c, ok in zip(components, serving, strict=True)]
    phase = state.get("phase", "starting")
    healthy = phase == "running" and bool(rows) and all(serving)
    text = "\n".join(
        [f"platform {phase}", f"{'component':<24}{'state':<13}endpoint"]
        + [f"{r['name']:<24}{'serving' if r['serving'] else 'NOT SERVING':<13}{r['endpoint']}"
           for r in rows])
    out.result({"running": True, "phase": phase, "healthy": healthy, "home": str(layout.root),
                "components": rows}, text)
    return 0 if healthy else 1
