"""The dates service as the platform sees it (a ``zhijian.services`` entry point)."""

from pathlib import Path
from typing import Any

from zhijian import service_spec as spec

MODEL_NAME = "zhijiantest-dates"


def ensure_version(tracking_uri: str, folder: Path, progress: spec.Progress) -> spec.SeedVersion:
    """Synthetic texts, 200 to learn from and 100 held out; trained once."""
    import mlflow
    import numpy as np

    from dates_service.model import DateShapes, DatesPyfunc, synthetic_records
    from zhijian import model_registration as registration

    train, test = (spec.write_records(folder / f"dates-{part}.jsonl", synthetic_records(n, seed))
                   for part, n, seed in (("train", 200, 1), ("test", 100, 2)))
    version = registration.latest_version(tracking_uri, MODEL_NAME)
    if version is None:
        data = registration.TrainingData.jsonl(train, "synthetic, dates_service.model")
        progress(f"first start: learning date shapes from {len(data.records)} texts")
        version = registration.register_pyfunc(
            tracking_uri=tracking_uri, model_name=MODEL_NAME, python_model=DatesPyfunc(),
            fitted=DateShapes().fit(data.records), code_package="dates_service",
            input_example=np.array(data.columns["text"][:3]), data=data,
            params={"records": len(data.records)}, metrics={},
            requirements=registration.pinned(mlflow, np)).version
    return spec.SeedVersion(version, spec.SeedDataset(train, "dates (training)", "seed 1"),
                            spec.SeedDataset(test, "dates (held-out test)", "seed 2"))


def filing(version: str, **names: Any) -> Any:
    from zhijian.filing_draft import seed_filing

    return seed_filing(
        MODEL_NAME, version, organization="zhijian tests", **names,
        purpose={"intendedUse": "mark the dates in a text for a clerk to check",
                 "contextOfUse": "tests of the platform", "role": "MODEL_ROLE_ASSISTIVE",
                 "prohibitedDecisions": ["any decision"], "users": ["clerks"],
                 "businessScenario": "tests", "algorithmType": "date-shape patterns",
                 "task": "dates.find"},
        classification={"modelInfluence": "IMPACT_LEVEL_LOW", "rationale": "a clerk checks",
                        "decisionConsequence": "IMPACT_LEVEL_LOW",
                        "maxDataLevel": "DATA_LEVEL_L2_GENERAL",
                        "networkDomains": ["NETWORK_DOMAIN_INTRANET"]},
        technical_description={"mechanism": "shapes of training dates as patterns",
                               "architecture": "regular expressions, MLflow pyfunc"},
        validation_plan={
            "taskType": "span_extraction", "latencyBudgetP95": "0.05s",
            "revalidationInterval": f"{180 * 86400}s", "bootstrapResamples": 200,
            "metrics": [{"metric": "exact_f1", "target": "date", "threshold": 0.9,
                         "comparison": "COMPARISON_GREATER_OR_EQUAL"}]},
        oversight={"reviewPoints": ["every answer"], "stopAuthorities": ["platform_admin"],
                   "outputLabel": "AI draft — requires human review"})


SPEC = spec.ServiceSpec(
    name="dates", grpc_services=("zhijiantest.dates.v1.DatesService",),
    module="dates_service", default_grpc_port=50090, default_metrics_port=9490,
    model_server=spec.ModelServerSpec("dates_service.model_server:DatesModelServer", 3090),
    seed=spec.SeedModel(MODEL_NAME, ensure_version, filing, dataset={
        "source": "synthetic", "legal_basis": "no personal data", "taskType": "span_extraction",
        "dataLevel": "DATA_LEVEL_L1_PUBLIC"}),
    # Filed for the intranet only, so reachable from nowhere else.
    access=(spec.Access(("FindDates",), ("business_system",), ("intranet",)),
            spec.Access(("ReviewResult",), ("reviewer",), ("intranet",))),
    contracts=("zhijiantest.dates.v1.dates_service_pb2",),
)
