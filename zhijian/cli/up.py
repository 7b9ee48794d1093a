"""``zhijian up``: the whole embedded platform in the foreground; Ctrl-C stops it all."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from zhijian.cli.output import Output
from zhijian.cli.stack import (
    DEFAULT_DOMAIN,
    StackPorts,
    gateway_components,
    infrastructure,
    platform_env,
    registry_component,
    service_components,
    service_endpoints,
)
from zhijian.config import NETWORK_DOMAINS, HomeLayout, zhijian_home
from zhijian.leftovers import describe, find_leftovers, read_pids
from zhijian.service_spec import discover
from zhijian.supervisor import ComponentFailed, Supervisor, pid_file_beside


@contextlib.contextmanager
def exclusive_lock(path: Path) -> Iterator[IO[str] | None]:
    """An flock the kernel drops when this process dies, so no lock outlives its owner."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        handle.close()
        yield None
        return
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    try:
        yield handle
    finally:
        handle.close()


def seed_dataset_dir(layout: HomeLayout, service: str) -> Path:
    return layout.root / "datasets" / "seed" / service


async def enrol_platform_identities(layout: HomeLayout, out: Output) -> list[Any]:
    """Before the registry starts: on the first start, the bootstrap identities (which
    the registry records once); later, the list of lapsed ones to have it issue."""
    from zhijian.cli.bootstrap import enrol_identities
    from zhijian.identity import BOOTSTRAP_CREDENTIALS, IdentitySettings

    identity = IdentitySettings.from_env()
    return await asyncio.to_thread(enrol_identities, identity.keys_dir,
                                   identity.identities_dir, layout.run_dir / "tokens",
                                   layout.root / "registry" / BOOTSTRAP_CREDENTIALS,
                                   out.progress)


async def reissue_platform_identities(stale: list[Any], layout: HomeLayout, ports: StackPorts,
                                      out: Output) -> None:
    from zhijian.cli.bootstrap import reissue_identities
    from zhijian.identity import IdentitySettings

    if stale:
        await reissue_identities(stale, IdentitySettings.from_env().identities_dir,
                                 layout.run_dir / "tokens",
                                 ports.gateway_target(DEFAULT_DOMAIN), out.progress)


async def govern_seed_models(layout: HomeLayout, ports: StackPorts,
                             out: Output) -> dict[str, str]:
    """File each service's seed model through the intranet gateway, as an operator would;
    returns, per model, its filing's name."""
    from zhijian.cli.bootstrap import enrol_approver_keys, file_seed_model
    from zhijian.identity import IdentitySettings

    identity = IdentitySettings.from_env()
    target = ports.gateway_target(DEFAULT_DOMAIN)
    await enrol_approver_keys(identity.identities_dir, target, out.progress)
    tracking_uri = os.environ["MLFLOW_TRACKING_URI"]
    filed: dict[str, str] = {}
    for spec in discover():
        if spec.seed is None:
            continue
        seed = await asyncio.to_thread(spec.seed.ensure_version, tracking_uri,
                                       seed_dataset_dir(layout, spec.name), out.progress)
        filing = await file_seed_model(target, identity.identities_dir, spec, seed,
                                       out.progress)
        filed[spec.seed.model_name] = (f"{filing.name} ({filing.filing_number}, "
                                       f"version {seed.version})")
    return filed


async def run_platform(layout: HomeLayout, ports: StackPorts, out: Output) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    supervisor = Supervisor(logs_dir=layout.logs_dir, state_file=layout.state_file,
                            on_event=out.progress)

    async def start() -> dict[str, str]:
        await supervisor.start(infrastructure(layout, ports))
        # The issuer key must exist before the registry starts: it verifies tokens with it.
        # Each domain's assertion key is made here, before its gateway is handed it.
        from zhijian.assertion import provision_domain_keys
        from zhijian.identity import IdentitySettings, IssuerKey

        keys_dir = IdentitySettings.from_env().keys_dir
        IssuerKey.load_or_create(keys_dir)
        provision_domain_keys(keys_dir)
        # Identities first: on the first start the registry records them as its bootstrap.
        stale = await enrol_platform_identities(layout, out)
        await supervisor.start([registry_component(ports)])
        await supervisor.start(gateway_components(layout, ports))
        await reissue_platform_identities(stale, layout, ports, out)
        filed = await govern_seed_models(layout, ports, out)
        for spec in discover():
            await supervisor.start(service_components(layout, ports, spec))
        return filed

    starting = asyncio.ensure_future(start())
    stop_waiter = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({starting, stop_waiter}, return_when=asyncio.FIRST_COMPLETED)
        if not starting.done():
            out.progress("interrupted during start-up; stopping")
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError, ComponentFailed):
                await starting
            return 130
        filed = starting.result()
        supervisor.set_phase("running")
        print_ready(out, ports, filed, layout)
        await supervisor.watch(stop)
        supervisor.set_phase("stopping")
        out.progress("stopping …")
        return 0
    except ComponentFailed as error:
        out.error(str(error), log=str(error.log_file))
        return 1
    finally:
        stop_waiter.cancel()
        await supervisor.stop()
        out.progress("all components stopped")


def print_ready(out: Output, ports: StackPorts, filed: dict[str, str],
                layout: HomeLayout) -> None:
    from zhijian.cli.bootstrap import DEMO_IDENTITIES

    endpoints = {
        **{f"gateway_{domain}": ports.gateway_target(domain) for domain in NETWORK_DOMAINS},
        **service_endpoints(ports),
        "registry_grpc": f"127.0.0.1:{ports.registry_grpc}",
        "mlflow": f"http://127.0.0.1:{ports.mlflow}",
        "span_sink": f"127.0.0.1:{ports.sink}",
    }
    examples = [example for spec in discover() for example in spec.examples]
    models = list(filed)
    data = {
        "home": str(layout.root),
        "models": [{"name": name, "filing": filing} for name, filing in filed.items()],
        "endpoints": endpoints,
        "identities": {d.name: {"subject": d.subject, "roles": list(d.roles),
                                "clearance": d.clearance} for d in DEMO_IDENTITIES},
        "sample_calls": [example.split("   #")[0] for example in examples],
    }
    text = "\n".join([
        "",
        f"zhijian is up (ZHIJIAN_HOME={layout.root})",
        *(f"{name} serves {filing}" for name, filing in filed.items()),
        *(f"  {name:<22} {endpoint}" for name, endpoint in endpoints.items()),
        "",
        "Demo identities (act as one with --as NAME, or export ZHIJIAN_AS=NAME):",
        *(f"  {d.name:<10} {d.subject:<20} {','.join(d.roles):<16} {d.clearance}  {d.purpose}"
          for d in DEMO_IDENTITIES),
        "",
        "Every call goes through a gateway: --domain internet|extranet|intranet picks which "
        f"(default {DEFAULT_DOMAIN}).",
        "Try, in another shell (source .venv/bin/activate first):",
        *(f"  {example}" for example in examples),
        "  zhijian filing list --as auditor",
        "  zhijian filing show <filing id> --as auditor",
        *(line for model in models[:1] for line in (
            f"  zhijian deploy status {model} --as sre",
            f"  zhijian deploy suspend {model} --reason drill --as sre")),
        "  zhijian audit verify --as auditor",
        "  zhijian status",
        "",
        "Ctrl-C stops every component.",
    ])
    out.result(data, text)


def cmd_up(args: argparse.Namespace, out: Output) -> int:
    layout = HomeLayout(zhijian_home()).create()
    ports = StackPorts.from_env()
    os.environ.update(platform_env(layout, ports))
    with exclusive_lock(layout.lock_file) as lock:
        if lock is None:
            holder = layout.lock_file.read_text().strip() or "?"
            out.error(f"the platform under {layout.root} is already running (pid {holder}); "
                      "stop it first or set ZHIJIAN_HOME to another folder")
            return 1
        # Holding the lock proves no `up` runs here; components an earlier one left behind
        # (it was killed) would hold the ports, or answer readiness checks in its place.
        pid_file = pid_file_beside(layout.state_file)
        leftovers = find_leftovers(read_pids(pid_file))
        if leftovers:
            out.error(f"an earlier `zhijian up` under {layout.root} was stopped without "
                      f"stopping its components, which still run: {describe(leftovers)}; "
                      "stop them with `zhijian down`",
                      pids=[left.pid for left in leftovers])
            return 1
        for stale in (pid_file, layout.state_file):
            with contextlib.suppress(FileNotFoundError):
                stale.unlink()
        return asyncio.run(run_platform(layout, ports, out))
