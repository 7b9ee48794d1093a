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
from typing import IO

from zhijian.cli.output import Output
from zhijian.cli.stack import StackPorts, classify_components, infrastructure, platform_env
from zhijian.config import HomeLayout, env_str, zhijian_home
from zhijian.supervisor import ComponentFailed, Supervisor


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


def ensure_classify_version(tracking_uri: str, out: Output) -> str:
    """The configured version, else the newest registered one, else train the seed model."""
    from services.classify.training import (
        SEED_CORPUS,
        SEED_PROVENANCE,
        latest_version,
        load_corpus,
        train_and_register,
    )

    configured = env_str("ZHIJIAN_CLASSIFY_MODEL_VERSION", "")
    if configured:
        return configured
    version = latest_version(tracking_uri)
    if version is not None:
        return version
    out.progress("first start: training the seed model of zhijian-classify")
    result = train_and_register(load_corpus(SEED_CORPUS, SEED_PROVENANCE),
                                tracking_uri=tracking_uri, progress=out.progress)
    out.progress(f"registered zhijian-classify version {result.version} "
                 f"({result.seconds:.1f}s; dev macro-F1 "
                 + ", ".join(f"{k.removeprefix('dev_macro_f1_')} {v:.3f}"
                             for k, v in result.metrics.items()) + ")")
    return result.version


def import_into_bentoml(version: str, out: Output) -> None:
    from services.classify.model_server import bento_tag, ensure_imported

    out.progress(f"importing zhijian-classify version {version} from MLflow into the "
                 f"BentoML store as {bento_tag(version)} …")
    stored = ensure_imported(version)
    out.progress(f"model store has {stored.tag}")


async def run_platform(layout: HomeLayout, ports: StackPorts, out: Output) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    supervisor = Supervisor(logs_dir=layout.logs_dir, state_file=layout.state_file,
                            on_event=out.progress)

    async def start() -> str:
        await supervisor.start(infrastructure(layout, ports))
        tracking_uri = os.environ["MLFLOW_TRACKING_URI"]
        version = await asyncio.to_thread(ensure_classify_version, tracking_uri, out)
        await asyncio.to_thread(import_into_bentoml, version, out)
        await supervisor.start(classify_components(ports, version))
        return version

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
        version = starting.result()
        supervisor.set_phase("running")
        print_ready(out, ports, version, layout)
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


def print_ready(out: Output, ports: StackPorts, version: str, layout: HomeLayout) -> None:
    classify = f"127.0.0.1:{ports.classify_grpc}"
    endpoints = {
        "classify_grpc": classify,
        "classify_metrics": f"http://127.0.0.1:{ports.classify_metrics}/metrics",
        "classify_model_server": f"http://127.0.0.1:{ports.classify_model_server}",
        "mlflow": f"http://127.0.0.1:{ports.mlflow}",
        "span_sink": f"127.0.0.1:{ports.sink}",
    }
    data = {
        "home": str(layout.root),
        "model": {"name": "zhijian-classify", "version": version},
        "endpoints": endpoints,
        "sample_call": 'zhijian classify "一次性使用无菌注射器"',
    }
    text = "\n".join([
        "",
        f"zhijian is up (ZHIJIAN_HOME={layout.root}); zhijian-classify version {version}",
        *(f"  {name:<22} {endpoint}" for name, endpoint in endpoints.items()),
        "",
        "Try, in another shell (source .venv/bin/activate first):",
        '  zhijian classify "一次性使用无菌注射器"',
        "  zhijian status",
        "  # or, with grpcurl:",
        f"  grpcurl -plaintext -d '{{\"text\": \"electronic blood pressure monitor\"}}' "
        f"{classify} zhijian.classify.v1.ClassifyService/Classify",
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
        return asyncio.run(run_platform(layout, ports, out))
