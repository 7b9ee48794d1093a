"""The LISTEN half of the gateway policy store, as a process of its own:
casbin-postgresql-watcher's subscription loop, run by ``python -m gateway.policy_listener``
and started by gateway/policy_store.py.

A fresh interpreter instead of multiprocessing: fork would copy locks held by the
gateway's gRPC threads and asyncio's signal wakeup fd (the child's SIGTERM would then
wake the gateway's own shutdown handler); spawn re-executes the parent's ``__main__``.

Protocol: one JSON line on stdin with the connection settings (the password stays out
of the process list) and ``fd``, an inherited pipe end on which the library reports
"ready" and each notification. stdin stays open; its end of file means the gateway is
gone, even by SIGKILL, and the listener leaves with it.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from multiprocessing.connection import Connection

from postgresql_watcher.casbin_channel_subscription import casbin_channel_subscription

SETTINGS: tuple[str, ...] = ("host", "user", "password", "channel_name", "port", "dbname",
                             "sslmode", "sslrootcert", "sslcert", "sslkey")


def _leave_with_parent() -> None:
    sys.stdin.read()
    # The library's SIGTERM handler closes its connection and ends the LISTEN loop.
    os.kill(os.getpid(), signal.SIGTERM)


def main() -> int:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="gateway.policy_listener: %(levelname)s %(message)s")
    settings = json.loads(sys.stdin.readline())
    pipe = Connection(int(settings["fd"]), readable=False)
    threading.Thread(target=_leave_with_parent, name="parent-watch", daemon=True).start()
    casbin_channel_subscription(pipe, logging.getLogger("gateway.policy_listener"),
                                delay=0, **{key: settings.get(key) for key in SETTINGS})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
