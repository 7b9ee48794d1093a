"""Evaluators: how a model of one task type is measured, and what its datasets look like.

A validation plan names its task type (``ValidationPlan.task_type``); the runner measures
the version with that type's evaluator, and the registry checks plans and datasets
against what the evaluator declares: its metrics, its perturbations, the schema of its
records and the key the train/test overlap check hashes. Evaluators are found through
the ``zhijian.evaluators`` entry point group, so a service can bring one for a task type
of its own without the registry importing the service.

What stays shared, outside the evaluators: the hash checks of model and datasets, the
bootstrap intervals, the judge and the MLflow report.
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:  # the spec reads this catalogue to check plans; it never runs back
    from registry.validation.spec import MetricResult, Plan, RobustnessResult

ENTRY_POINT_GROUP: Final = "zhijian.evaluators"
# Plans and datasets from before task types were named are text classification.
DEFAULT_TASK_TYPE: Final = "text_classification"
__all__ = ["DEFAULT_TASK_TYPE", "Evaluation", "Evaluator", "RecordError", "UnknownTaskType",
           "evaluator_for", "evaluators"]


class RecordError(ValueError):
    """A dataset record does not follow its task type's schema; the message says how."""


@dataclass(frozen=True)
class Evaluation:
    """What an evaluator measured on the test records."""

    metric_results: tuple[MetricResult, ...]
    robustness: tuple[RobustnessResult, ...]
    stability_overall: float | None
    latency_p50_ms: float
    latency_p95_ms: float


class Evaluator(ABC):
    task_type: str
    metrics: frozenset[str]
    perturbations: tuple[str, ...] = ()
    record_schema: str  # one sentence, for error messages and the README

    @abstractmethod
    def check_record(self, record: Mapping[str, Any]) -> None:
        """Raise :class:`RecordError` if ``record`` does not follow the schema."""

    @abstractmethod
    def overlap_key(self, record: Mapping[str, Any]) -> str:
        """What identifies a record across datasets (a test record whose key is in the
        training data is not held out)."""

    @abstractmethod
    def evaluate(self, model: Any, records: Sequence[Mapping[str, Any]],
                 plan: Plan) -> Evaluation:
        """Measure ``model`` (an MLflow pyfunc) on the test records as ``plan`` asks."""


class UnknownTaskType(LookupError):
    def __init__(self, task_type: str) -> None:
        super().__init__(f"no evaluator for task type {task_type!r}; known: "
                         + ", ".join(sorted(evaluators())))
        self.task_type = task_type


@functools.cache
def evaluators() -> Mapping[str, Evaluator]:
    """Every installed evaluator, by task type."""
    found: dict[str, Evaluator] = {}
    for point in entry_points(group=ENTRY_POINT_GROUP):
        evaluator = point.load()
        if not isinstance(evaluator, Evaluator) or evaluator.task_type != point.name:
            raise TypeError(f"evaluator entry point {point.name} = {point.value} is not an "
                            f"Evaluator for task type {point.name!r}")
        found[point.name] = evaluator
    return found


def evaluator_for(task_type: str) -> Evaluator:
    try:
        return evaluators()[task_type or DEFAULT_TASK_TYPE]
    except KeyError:
        raise UnknownTaskType(task_type) from None
