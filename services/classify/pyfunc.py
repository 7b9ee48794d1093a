"""The MLflow pyfunc form of the classifier: what is registered, filed and served.

Predictions come out as JSON-ready dicts so that the model server can return them as
they are: ``{task: {"label", "probabilities", "terms"}}`` per input text.
"""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel

from services.classify.model import MultiTaskClassifier

CLASSIFIER_ARTIFACT = "classifier"


def texts_from_input(model_input: Any) -> list[str]:
    if isinstance(model_input, pd.DataFrame):
        model_input = model_input.iloc[:, 0].to_numpy()
    return [str(text) for text in np.asarray(model_input, dtype=object).ravel()]


def predictions_to_dicts(classifier: MultiTaskClassifier, texts: list[str]) -> list[dict[str, Any]]:
    return [
        {task: {"label": p.label, "probabilities": p.probabilities, "terms": p.terms}
         for task, p in per_text.items()}
        for per_text in classifier.predict(texts)
    ]


class ClassifyPyfunc(PythonModel):
    # predict() is left unannotated on purpose: MLflow reads type hints on it as a
    # signature and warns about Any; the logged signature comes from an input example.
    def load_context(self, context: Any) -> None:
        with open(context.artifacts[CLASSIFIER_ARTIFACT], "rb") as handle:
            self.classifier: MultiTaskClassifier = pickle.load(handle)

    def predict(self, context, model_input, params=None):
        return predictions_to_dicts(self.classifier, texts_from_input(model_input))
