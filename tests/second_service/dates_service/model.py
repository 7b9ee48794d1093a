"""The dates model: the shapes of the dates seen in training, found again in new text."""

import pickle
import random
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from mlflow.pyfunc import PythonModel

FORMATS = ("{y}-{m:02d}-{d:02d}", "{y}年{m}月{d}日", "{y}/{m}/{d}", "{d:02d}.{m:02d}.{y}")
TEMPLATES = ("批件于{}签发，{}起生效。", "Report received on {}; onset {}.",
             "样品{}抽检，复检日期{}。", "The label was revised on {} and {}.")


def shape(date: str) -> str:
    """A date's shape as a pattern: short digit runs any one or two digits, the rest kept."""
    return "".join(r"\d{1,2}" if run.isdigit() and len(run) <= 2
                   else rf"\d{{{len(run)}}}" if run.isdigit() else re.escape(run)
                   for run in re.findall(r"\d+|\D", date))


class DateShapes:
    def fit(self, records: Sequence[Mapping[str, Any]]) -> "DateShapes":
        shapes = {shape(r["text"][s["start"]:s["end"]]) for r in records for s in r["spans"]}
        # Longest first, so that a full date wins over the day and month inside it.
        self.pattern = re.compile(r"(?<!\d)(?:" + "|".join(sorted(shapes, key=len, reverse=True))
                                  + r")(?!\d)")
        return self

    def find(self, text: str) -> list[dict[str, Any]]:
        return [{"field": "date", "start": m.start(), "end": m.end(), "text": m.group()}
                for m in self.pattern.finditer(text)]


def synthetic_records(count: int, seed: int) -> list[dict[str, Any]]:
    """Span-annotated texts, each with two dates in random formats."""
    rng, records = random.Random(seed), []
    for _ in range(count):
        parts = rng.choice(TEMPLATES).split("{}")
        text, spans = parts[0], []
        for part in parts[1:]:
            date = rng.choice(FORMATS).format(y=rng.randint(1990, 2030), m=rng.randint(1, 12),
                                              d=rng.randint(1, 28))
            spans.append({"field": "date", "start": len(text), "end": len(text) + len(date)})
            text += date + part
        records.append({"text": text, "spans": spans})
    return records


class DatesPyfunc(PythonModel):
    def load_context(self, context: Any) -> None:
        with open(context.artifacts["model"], "rb") as handle:
            self.shapes: DateShapes = pickle.load(handle)

    def predict(self, context, model_input, params=None):
        return [{"spans": self.shapes.find(str(text))}
                for text in np.asarray(model_input, dtype=object).ravel()]
