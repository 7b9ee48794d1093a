"""``zhijian down``: stop the platform under ``$ZHIJIAN_HOME``, even one whose ``zhijian
up`` was killed and left its components serving unsupervised.

A live ``up`` is asked to stop (SIGTERM: it stops its components in order, the gateways
flush their call records); whatever the pid file still names after that gets SIGTERM,
then SIGKILL after the grace period. Exit 0 when no process of the platform remains.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import time

import psutil

from zhijian.cli.output import Output
from zhijian.config import HomeLayout, zhijian_home
from zhijian.leftovers import describe, read_pids, stop_leftovers, supervisor
from zhijian.supervisor import pid_file_beside

SUPERVISOR_STOP_S = 60.0


def _running(process: psutil.Process) -> bool:
    try:
        return bool(process.is_running() and process.status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def cmd_down(args: argparse.Namespace, out: Output) -> int:
    layout = HomeLayout(zhijian_home())
    pid_file = pid_file_beside(layout.state_file)
    data = read_pids(pid_file)
    if data is None:
        out.result({"home": str(layout.root), "stopped": [], "survivors": []},
                   f"nothing to stop under {layout.root} (no pid file)")
        return 0
    up = supervisor(data)
    if up is not None:
        out.progress(f"asking zhijian up (pid {up.pid}) to stop …")
        with contextlib.suppress(psutil.Error):
            up.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + SUPERVISOR_STOP_S
        while _running(up) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _running(up):
            out.progress(f"zhijian up (pid {up.pid}) did not stop in {SUPERVISOR_STOP_S:.0f}s; "
                         "killing it and its components")
            with contextlib.suppress(psutil.Error):
                up.kill()
    found, survivors = stop_leftovers(pid_file, args.grace)
    if survivors:
        out.error(f"still running after SIGKILL: {describe(survivors)}",
                  home=str(layout.root))
        return 1
    for done in (pid_file, layout.state_file):
        with contextlib.suppress(FileNotFoundError):
            done.unlink()
    stopped = [{"component": f.component, "pid": f.pid} for f in found]
    text = (f"stopped {describe(found)}" if found else
            "zhijian up had stopped every component" if up is not None else
            "no process of the platform was running")
    out.result({"home": str(layout.root), "stopped": stopped, "survivors": []},
               f"{text}; nothing of the platform under {layout.root} runs now")
    return 0
