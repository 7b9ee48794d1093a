"""A minimal MLflow pyfunc for registry tests: what its versions predict does not matter
to the lifecycle, only that they are real registered versions with real artifacts."""

from __future__ import annotations

from mlflow.pyfunc import PythonModel


class ConstantModel(PythonModel):
    def predict(self, context, model_input, params=None):
        return [{"product_category": {"label": "device"}} for _ in range(len(model_input))]
