"""Processes of a platform whose ``zhijian up`` is gone, found from its pid file.

A pid is only trusted together with the start time recorded beside it: the kernel hands
out a freed pid again, and signalling a stranger that happens to hold one is the worst
mistake ``zhijian down`` could make. A process group is trusted when its leader is ours,
or when the leader is dead and the group still exists (Linux never gives a pid to a new
process while a group of that id exists, so such a group cannot be a stranger's).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil


@dataclass(frozen=True)
class Leftover:
    component: str
    process: psutil.Process

    @property
    def pid(self) -> int:
        return int(self.process.pid)


def read_pids(pid_file: Path) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads(pid_file.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return data


def recorded(pid: int, create_time: float) -> psutil.Process | None:
    """The live process with this pid, if it is the one that was recorded."""
    try:
        process = psutil.Process(pid)
        # psutil rounds differently across calls only in the last digits.
        if abs(process.create_time() - create_time) > 0.01 or _gone(process):
            return None
    except psutil.Error:
        return None
    return process


def supervisor(data: dict[str, Any]) -> psutil.Process | None:
    entry = data.get("supervisor") or {}
    return recorded(int(entry.get("pid", 0)), float(entry.get("create_time", 0.0)))


def _gone(process: psutil.Process) -> bool:
    """Exited, a zombie (init reaps it), or its pid now someone else's."""
    try:
        return not process.is_running() or process.status() == psutil.STATUS_ZOMBIE
    except psutil.Error:
        return True


def _alive(pid: int) -> bool:
    try:
        return not _gone(psutil.Process(pid))
    except psutil.Error:
        return False


def _group_members(pgid: int) -> list[psutil.Process]:
    members = []
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error, OSError):
            if os.getpgid(process.pid) == pgid and not _gone(process):
                members.append(process)
    return members


def find_leftovers(data: dict[str, Any] | None) -> list[Leftover]:
    """Every live process of the platform the pid file describes, but its supervisor."""
    if data is None:
        return []
    found: dict[int, Leftover] = {}

    def add(component: str, process: psutil.Process) -> None:
        if process.pid in found or process.pid == os.getpid():
            return
        found[process.pid] = Leftover(component, process)
        # Forked after the pid file was last written: still ours, being our descendants.
        with contextlib.suppress(psutil.Error):
            for child in process.children(recursive=True):
                if not _gone(child):
                    found.setdefault(child.pid, Leftover(component, child))

    for entry in data.get("components", []):
        name = str(entry["name"])
        leader = recorded(int(entry["pid"]), float(entry["create_time"]))
        if leader is not None:
            add(name, leader)
        if leader is not None or not _alive(int(entry["pgid"])):
            for member in _group_members(int(entry["pgid"])):
                add(name, member)
        for descendant in entry.get("descendants", []):
            process = recorded(int(descendant["pid"]), float(descendant["create_time"]))
            if process is not None:
                add(name, process)
    return list(found.values())


def describe(leftovers: list[Leftover]) -> str:
    by_component: dict[str, list[int]] = {}
    for leftover in leftovers:
        by_component.setdefault(leftover.component, []).append(leftover.pid)
    return ", ".join(f"{name} (pid {', '.join(map(str, sorted(pids)))})"
                     for name, pids in by_component.items())


def signal_all(leftovers: list[Leftover], signum: signal.Signals) -> None:
    for leftover in leftovers:
        # psutil refuses to signal a pid that now belongs to another process.
        with contextlib.suppress(psutil.Error):
            leftover.process.send_signal(signum)


def wait_gone(leftovers: list[Leftover], timeout_s: float) -> list[Leftover]:
    """Those still alive after ``timeout_s`` (zombies count as gone: init reaps them)."""
    deadline = time.monotonic() + timeout_s
    alive = leftovers
    while True:
        alive = [left for left in alive if not _gone(left.process)]
        if not alive or time.monotonic() >= deadline:
            return alive
        time.sleep(0.1)


def stop_leftovers(pid_file: Path, grace_s: float) -> tuple[list[Leftover], list[Leftover]]:
    """SIGTERM every leftover, SIGKILL what is left after ``grace_s``; returns what was
    found and what survived even that."""
    data = read_pids(pid_file)
    found = find_leftovers(data)
    signal_all(found, signal.SIGTERM)
    wait_gone(found, grace_s)
    # Looked up again: a component may have forked while it was stopping.
    stubborn = find_leftovers(data)
    signal_all(stubborn, signal.SIGKILL)
    survivors = wait_gone(stubborn, 5.0)
    return found, survivors
