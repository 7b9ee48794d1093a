"""``zhijian audit verify | tail``: check a ledger's hash chain and signed checkpoints, and
read its latest events.

Two ledgers exist: ``governance`` (every governance act) and ``calls`` (one record per
model call). Like every governance command these act as ``--as NAME``.
"""

from __future__ import annotations

import argparse
from typing import Any

from zhijian.cli.filing import (
    EXIT_OK,
    EXIT_REFUSED,
    CommandError,
    Outcome,
    Registry,
    add_action,
    command,
    equals,
    message_dict,
    run,
)
from zhijian.cli.output import Output

LEDGERS = ("governance", "calls")
DEFAULT_TAIL = 20
# The registry's maximum page: the tail is only reachable by reading forward, so fewer,
# larger pages cost least.
TAIL_PAGE_SIZE = 1000


def ledger_name(ledger: str) -> str:
    return f"ledgers/{ledger}"


def add_audit_commands(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``audit`` and its actions; each action sets ``args.handler``."""
    audit = subparsers.add_parser("audit", help="verify the tamper-evident ledgers and read "
                                  "their events (acting as --as NAME)")
    actions = audit.add_subparsers(dest="audit_command", required=True, metavar="ACTION")

    verify = add_action(actions, "verify", cmd_audit_verify, "check both ledgers' hash chains "
                        "and signed checkpoints, and that the serving state matches the "
                        "governance ledger; exit 1 on any problem")
    verify.add_argument("--ledger", choices=LEDGERS, default=None,
                        help="check only this ledger (default: both)")

    tail = add_action(actions, "tail", cmd_audit_tail, "the last events of a ledger")
    tail.add_argument("--ledger", choices=LEDGERS, default="governance")
    tail.add_argument("-n", type=int, default=DEFAULT_TAIL, dest="count", metavar="N",
                      help=f"how many events (default {DEFAULT_TAIL})")
    tail.add_argument("--action", help='e.g. "filing.approve"')
    tail.add_argument("--target", help='e.g. "filings/abc"')
    tail.add_argument("--actor", help='e.g. "user:li.si"')
    return audit


@command
def cmd_audit_verify(args: argparse.Namespace, out: Output) -> int:
    from zhijian.cli.render import render_verification
    from zhijian.registry.v1 import registry_service_pb2 as pb

    names = [ledger_name(args.ledger or ledger) for ledger in
             ((args.ledger,) if args.ledger else LEDGERS)]

    async def act(registry: Registry) -> Outcome:
        results: list[dict[str, Any]] = []
        texts: list[str] = []
        ok = True
        for name in names:
            report = await registry.call(registry.stub.VerifyLedger,
                                         pb.VerifyLedgerRequest(name=name))
            # with_defaults: a failed check must say "ok": false, not leave the field out.
            results.append({"ledger": name, **message_dict(report, with_defaults=True)})
            texts.append(render_verification(report, name))
            ok = ok and report.ok
        # One ledger asked for: its report as before; both: each, and whether all passed.
        data = results[0] if len(results) == 1 else {"ok": ok, "ledgers": results}
        return Outcome(data, "\n".join(texts), EXIT_OK if ok else EXIT_REFUSED)
    return run(args, out, act)


def event_filter(args: argparse.Namespace) -> str:
    clauses = [equals(field, value) for field, value in
               (("action", args.action), ("target", args.target), ("actor", args.actor))
               if value]
    return " AND ".join(clauses)


@command
def cmd_audit_tail(args: argparse.Namespace, out: Output) -> int:
    from collections import deque

    from zhijian.cli.render import render_audit_events
    from zhijian.registry.v1 import registry_service_pb2 as pb

    if args.count < 1:
        raise CommandError("-n must be at least 1")
    name = ledger_name(args.ledger)
    request = pb.ListAuditEventsRequest(parent=name, filter=event_filter(args),
                                        page_size=TAIL_PAGE_SIZE)

    async def act(registry: Registry) -> Outcome:
        # Events list oldest first and cannot be read backwards, so keep a sliding
        # window of the last N while paging forward.
        tail: deque[pb.AuditEvent] = deque(maxlen=args.count)
        async for event in registry.pages(registry.stub.ListAuditEvents, request,
                                          "audit_events"):
            tail.append(event)
        events = list(tail)
        return Outcome({"ledger": name, "audit_events": [message_dict(e) for e in events]},
                       render_audit_events(events, name))
    return run(args, out, act)
