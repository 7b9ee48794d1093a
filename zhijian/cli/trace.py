"""``zhijian trace show``: one trace from the local span sink as a tree with timings."""

from __future__ import annotations

import argparse
import time

from zhijian.cli.output import Output
from zhijian.config import HomeLayout, zhijian_home
from zhijian.trace_view import build_tree, read_spans, render_tree


def cmd_trace_show(args: argparse.Namespace, out: Output) -> int:
    trace_id = args.trace_id.strip().lower()
    if len(trace_id) != 32 or any(c not in "0123456789abcdef" for c in trace_id):
        out.error(f"{args.trace_id!r} is not a trace id (32 hex digits)")
        return 2
    spans_file = HomeLayout(zhijian_home()).spans_file
    deadline = time.monotonic() + max(args.wait, 0.0)
    spans = read_spans(spans_file, trace_id)
    # Exporters send in batches (every 0.5 s in the embedded platform): keep reading until
    # the span count has not moved for a few rounds.
    quiet_rounds = 0
    while time.monotonic() < deadline and quiet_rounds < 3:
        time.sleep(0.5)
        again = read_spans(spans_file, trace_id)
        quiet_rounds = quiet_rounds + 1 if spans and len(again) == len(spans) else 0
        spans = again
    if not spans:
        out.error(f"no spans of trace {trace_id} in {spans_file}")
        return 1
    roots = build_tree(spans)
    services = sorted({s["service"] for s in spans})
    out.result({"trace_id": trace_id, "spans": len(spans), "services": services,
                "tree": [r.to_dict() for r in roots]},
               f"trace {trace_id}: {len(spans)} spans from {', '.join(services)}\n"
               + render_tree(roots))
    return 0
