"""What several evaluators do alike: predict in batches, time single calls, and the
subgroups and metric scopes a plan asks for."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

import numpy as np

from registry.validation.perturb import CJK_CHAR
from registry.validation.spec import Plan, parse_subgroup

BATCH_SIZE: Final = 256
LATENCY_CALLS: Final = 200
WARMUP_CALLS: Final = 10


class ModelOutputError(Exception):
    """The model answered in a shape its task type does not allow."""


def _rows(result: Any) -> list[Any]:
    if hasattr(result, "to_dict") and hasattr(result, "columns"):  # a pandas DataFrame
        return list(result.to_dict("records"))
    return list(result)


def predict_texts(model: Any, texts: Sequence[str]) -> list[Any]:
    """One model output per text, predicted in batches."""
    # A str array, not object: the version's signature is a tensor of str.
    return predict_rows(model, texts, lambda batch: np.array(list(batch), dtype=str))


def text_latency(model: Any, texts: Sequence[str]) -> tuple[float, float]:
    """p50 and p95 in ms of single-text calls, after warm-up (first calls fill caches)."""
    return rows_latency(model, texts, lambda text: np.array([text], dtype=str))


def rows_latency(model: Any, rows: Sequence[Any],
                 one_input: Callable[[Any], Any]) -> tuple[float, float]:
    """p50 and p95 in ms of single-row calls (``one_input(row)`` is the model input of
    one row), after warm-up."""
    sample = [one_input(row) for row in rows[:LATENCY_CALLS]]
    for index in range(WARMUP_CALLS):
        model.predict(sample[index % len(sample)])
    timings = []
    for one in sample:
        started = time.perf_counter()
        model.predict(one)
        timings.append((time.perf_counter() - started) * 1000)
    p50, p95 = np.percentile(timings, [50, 95])
    return float(p50), float(p95)


def predict_rows(model: Any, rows: Sequence[Any], batch_input: Callable[[Sequence[Any]], Any]
                 ) -> list[Any]:
    """One model output per row, predicted in batches (``batch_input`` builds the model
    input of a batch)."""
    outputs: list[Any] = []
    for start in range(0, len(rows), BATCH_SIZE):
        outputs.extend(_rows(model.predict(batch_input(rows[start:start + BATCH_SIZE]))))
    if len(outputs) != len(rows):
        raise ModelOutputError(f"the model returned {len(outputs)} outputs for {len(rows)} "
                               "records")
    return outputs


def canonical_sha256(value: Any) -> str:
    """SHA-256 of ``value`` as canonical JSON: the overlap key of structured records."""
    encoded = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


def subgroup_value(record: Mapping[str, Any], key: str) -> str | None:
    value = record.get(key)
    if value is None and key == "language":
        # Data without a language field is still split by what the text is written in.
        return "zh" if CJK_CHAR.search(str(record.get("text", ""))) else "en"
    return None if value is None else str(value)


def in_subgroup(record: Mapping[str, Any], subgroup: str) -> bool:
    member = parse_subgroup(subgroup)
    return member is None or subgroup_value(record, member[0]) == member[1]


def metric_scopes(plan: Plan) -> list[tuple[str, str, str]]:
    """(metric, target, subgroup) to report: the planned ones, then each planned metric on
    the whole test set and on every planned subgroup."""
    scopes = [(t.metric, t.target, t.subgroup) for t in plan.metrics]
    for metric, target, _ in list(scopes):
        scopes += [(metric, target, s) for s in ("", *plan.subgroups)]
    return list(dict.fromkeys(scopes))


def text_of(record: Mapping[str, Any]) -> str:
    return str(record["text"])


def check_text(record: Mapping[str, Any]) -> str | None:
    """Why a record's ``text`` is unusable, or None."""
    text = record.get("text")
    if not isinstance(text, str) or not text.strip():
        return "'text' must be a non-empty string"
    return None
