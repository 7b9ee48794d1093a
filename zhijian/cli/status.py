"""``zhijian status``: probe every component the supervisor started.

Exit codes, so that scripts and monitors can tell conditions apart (when several hold,
the first in this list wins):

- 0: every component serves (and, acting as an identity, no deployment is suspended or
  expired);
- 1: not running, still starting or stopping, or a critical component is not serving;
- 3: a deployment is suspended, or its production version suspended or past its
  revalidation date: that model serves nothing (or only a fallback version);
- 4: degraded: every critical component serves, a non-critical one (the span sink) was
  left down after exhausting its restart budget.

Deployments are governance state, read from the registry through a gateway, so they are
checked only when status acts as an identity (``--as NAME`` or ``ZHIJIAN_AS``): without
one no command calls the platform.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import TYPE_CHECKING, Any

from zhijian.cli.output import Output
from zhijian.config import HomeLayout, zhijian_home
from zhijian.leftovers import describe, find_leftovers, read_pids
from zhijian.supervisor import Readiness, pid_alive, pid_file_beside, read_state

if TYPE_CHECKING:
    from zhijian.registry.v1 import registry_service_pb2 as pb

EXIT_HEALTHY = 0
EXIT_DOWN = 1
EXIT_DEPLOYMENT_NOT_SERVING = 3
EXIT_DEGRADED = 4
DEPLOYMENTS_TIMEOUT_S = 5.0


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


def exit_code(phase: str, rows: list[dict[str, Any]],
              deployments: list[dict[str, Any]] | None = None) -> int:
    if phase != "running" or not rows or not all(r["serving"] for r in rows if r["critical"]):
        return EXIT_DOWN
    if any(d["problem"] for d in deployments or []):
        return EXIT_DEPLOYMENT_NOT_SERVING
    if not all(r["serving"] for r in rows):
        return EXIT_DEGRADED
    return EXIT_HEALTHY


def deployment_rows(deployments: list[pb.Deployment], now: float) -> list[dict[str, Any]]:
    """Each deployment, and why its production version cannot serve (empty if it can)."""
    from zhijian.registry.v1 import registry_service_pb2 as pb

    rows = []
    for deployment in deployments:
        production = deployment.production if deployment.HasField("production") else None
        revalidate = (production.revalidate_time.ToSeconds()
                      if production is not None and production.HasField("revalidate_time")
                      else None)
        filing_state = production.filing_state if production is not None else 0
        problem = ""
        if deployment.state == pb.DEPLOYMENT_STATE_SUSPENDED:
            problem = "suspended"
        elif filing_state == pb.FILING_STATE_SUSPENDED:
            problem = "production version suspended"
        elif filing_state == pb.FILING_STATE_EXPIRED or (
                revalidate is not None and revalidate <= now):
            problem = "production version expired"
        rows.append({
            "name": deployment.name, "model": deployment.model,
            "state": pb.DeploymentState.Name(deployment.state),
            "production": production.version if production is not None else "",
            "filing_state": pb.FilingState.Name(filing_state),
            "revalidate_time": production.revalidate_time.ToJsonString()
            if revalidate is not None and production is not None else "",
            "problem": problem})
    return rows


def deployment_label(row: dict[str, Any]) -> str:
    if row["problem"]:
        return row["problem"].upper()
    return "serving" if row["production"] else "nothing promoted"


async def read_deployments(args: argparse.Namespace) -> list[pb.Deployment]:
    from zhijian.cli.session import acting_identity, call_metadata, registry_stub
    from zhijian.registry.v1 import registry_service_pb2 as pb

    identity = acting_identity(args)
    found: list[pb.Deployment] = []
    async with registry_stub(args, identity) as stub:
        request = pb.ListDeploymentsRequest(page_size=500)
        while True:
            page = await stub.ListDeployments(request, metadata=call_metadata(identity),
                                              timeout=DEPLOYMENTS_TIMEOUT_S)
            found += page.deployments
            if not page.next_page_token or page.next_page_token == request.page_token:
                return found
            request.page_token = page.next_page_token


def deployments_as_identity(args: argparse.Namespace) -> tuple[list[dict[str, Any]] | None, str]:
    """The deployments' rows, or None and why they were not read."""
    import grpc

    from zhijian.config import env_str
    from zhijian.identity import IdentityError

    if not (getattr(args, "as_identity", None) or env_str("ZHIJIAN_AS", "")):
        return None, "deployments not checked: pass --as NAME (e.g. sre) to include them"
    try:
        found = asyncio.run(read_deployments(args))
    except IdentityError as error:
        return None, f"deployments not checked: {error}"
    except grpc.aio.AioRpcError as error:
        return None, f"deployments could not be read: {error.code().name} {error.details()}"
    return deployment_rows(found, time.time()), ""


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
    deployments, unchecked = deployments_as_identity(args)
    code = exit_code(phase, rows, deployments)
    headline = f"platform {phase}" + (", DEGRADED" if code == EXIT_DEGRADED else "")
    lines = [headline, f"{'component':<24}{'state':<13}endpoint"]
    lines += [f"{r['name']:<24}{component_label(r):<13}{r['endpoint']}" for r in rows]
    if deployments is None:
        lines.append(unchecked)
    else:
        lines.append(f"{'deployment':<36}{'state':<30}production (filing state, revalidate)")
        lines += [f"{d['name']:<36}{deployment_label(d):<30}{d['production'] or '-'} "
                  f"({d['filing_state'].removeprefix('FILING_STATE_')}, "
                  f"{d['revalidate_time'] or '-'})" for d in deployments]
    out.result({"running": True, "phase": phase, "healthy": code == EXIT_HEALTHY,
                "degraded": code == EXIT_DEGRADED, "exit_code": code,
                "home": str(layout.root), "components": rows, "deployments": deployments,
                **({"deployments_unchecked": unchecked} if unchecked else {})},
               "\n".join(lines))
    return code
