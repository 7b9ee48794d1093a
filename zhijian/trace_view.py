"""Read traces back from the span sink's file and render them as a tree with timings."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class SpanNode:
    record: dict[str, Any]
    children: list[SpanNode] = field(default_factory=list)

    @property
    def duration_ms(self) -> float:
        return (self.record["end_ns"] - self.record["start_ns"]) / 1e6

    def to_dict(self) -> dict[str, Any]:
        return {**self.record, "duration_ms": round(self.duration_ms, 3),
                "children": [c.to_dict() for c in self.children]}


def read_spans(path: Path, trace_id: str) -> list[dict[str, Any]]:
    trace_id = trace_id.lower()
    if not path.exists():
        return []
    spans = []
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if trace_id not in line:
                continue  # cheap pre-filter: most lines belong to other traces
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut short by a crash; the rest of the file is still good
            if record.get("trace_id") == trace_id:
                spans.append(record)
    return spans


def build_tree(spans: list[dict[str, Any]]) -> list[SpanNode]:
    """Roots first by start time; spans whose parent never arrived become roots too."""
    nodes = {s["span_id"]: SpanNode(s) for s in spans}
    children: dict[str, list[SpanNode]] = defaultdict(list)
    roots = []
    for node in nodes.values():
        parent = node.record.get("parent_span_id") or ""
        if parent and parent in nodes:
            children[parent].append(node)
        else:
            roots.append(node)
    for span_id, node in nodes.items():
        node.children = sorted(children[span_id], key=lambda n: n.record["start_ns"])
    return sorted(roots, key=lambda n: n.record["start_ns"])


def render_tree(roots: list[SpanNode]) -> str:
    if not roots:
        return ""
    origin = min(r.record["start_ns"] for r in roots)
    lines: list[str] = []

    def walk(node: SpanNode, prefix: str, last: bool, top: bool) -> None:
        offset = (node.record["start_ns"] - origin) / 1e6
        branch = "" if top else ("└─ " if last else "├─ ")
        status = "" if node.record["status"] in ("STATUS_CODE_UNSET", "STATUS_CODE_OK") \
            else f"  [{node.record['status'].removeprefix('STATUS_CODE_')}]"
        lines.append(f"{prefix}{branch}{node.record['name']}  ({node.record['service']})  "
                     f"+{offset:.2f} ms  {node.duration_ms:.2f} ms{status}")
        child_prefix = prefix if top else prefix + ("   " if last else "│  ")
        for i, child in enumerate(node.children):
            walk(child, child_prefix, i == len(node.children) - 1, False)

    for root in roots:
        walk(root, "", True, True)
    return "\n".join(lines)
