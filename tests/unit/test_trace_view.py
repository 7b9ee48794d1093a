import json

from zhijian.trace_view import build_tree, read_spans, render_tree

TRACE = "0af7651916cd43dd8448eb211c80319c"


def span(span_id, parent, name, start, end, service="svc", trace_id=TRACE):
    return {"trace_id": trace_id, "span_id": span_id, "parent_span_id": parent, "name": name,
            "kind": "SPAN_KIND_SERVER", "service": service, "start_ns": start, "end_ns": end,
            "status": "STATUS_CODE_UNSET", "attributes": {}}


def test_tree_nests_children_in_start_order_and_keeps_orphans_as_roots():
    spans = [span("b", "a", "child-late", 30, 40), span("a", "", "root", 0, 100),
             span("c", "a", "child-early", 10, 20), span("d", "missing", "orphan", 50, 60)]
    roots = build_tree(spans)
    assert [r.record["name"] for r in roots] == ["root", "orphan"]
    assert [c.record["name"] for c in roots[0].children] == ["child-early", "child-late"]
    assert roots[0].duration_ms == 100 / 1e6


def test_render_shows_services_offsets_and_durations():
    roots = build_tree([span("a", "", "root", 0, 2_000_000, "cli"),
                        span("b", "a", "inner", 500_000, 1_500_000, "model")])
    text = render_tree(roots)
    assert "root  (cli)  +0.00 ms  2.00 ms" in text
    assert "└─ inner  (model)  +0.50 ms  1.00 ms" in text


def test_read_spans_filters_by_trace_and_skips_torn_lines(tmp_path):
    path = tmp_path / "spans.jsonl"
    other = span("x", "", "other", 0, 1, trace_id="f" * 32)
    path.write_text(json.dumps(span("a", "", "mine", 0, 1)) + "\n" + json.dumps(other) + "\n"
                    + '{"trace_id": "' + TRACE + '", "span_')
    spans = read_spans(path, TRACE.upper())
    assert [s["name"] for s in spans] == ["mine"]
    assert read_spans(tmp_path / "absent.jsonl", TRACE) == []
