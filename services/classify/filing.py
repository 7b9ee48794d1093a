"""The filing of a classify model version: purpose, boundaries, risk, oversight and the
validation plan, declared by its developers before any validation run.

Thresholds sit just below what the seed model scores on the dev split inside its own
training data (macro-F1 0.62 product category, 0.62 device class; review-route macro-F1
0.47): a regression from that fails, rare labels in a 166-record test split are allowed
for. They are fixed here, before validation, and frozen by submission.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import duration_pb2

from services.classify.settings import MODEL_NAME
from zhijian.filing_draft import seed_filing as draft
from zhijian.registry.v1 import registry_service_pb2 as pb
from zhijian.types.v1 import ai_result_pb2 as types_pb

REVALIDATION_DAYS = 180


def _duration(seconds: float) -> duration_pb2.Duration:
    duration = duration_pb2.Duration()
    duration.FromNanoseconds(int(seconds * 1e9))
    return duration


def validation_plan() -> pb.ValidationPlan:
    ge = pb.COMPARISON_GREATER_OR_EQUAL
    return pb.ValidationPlan(
        metrics=[
            pb.MetricThreshold(metric="macro_f1", target="product_category", comparison=ge,
                               threshold=0.60),
            pb.MetricThreshold(metric="macro_f1", target="device_class", comparison=ge,
                               threshold=0.55),
            pb.MetricThreshold(metric="accuracy", target="review_route", comparison=ge,
                               threshold=0.50),
            pb.MetricThreshold(metric="accuracy", target="product_category",
                               subgroup="language=zh", comparison=ge, threshold=0.70),
        ],
        subgroups=["language=zh", "language=en", "product_category=device",
                   "product_category=drug"],
        robustness=pb.RobustnessPlan(
            perturbations=["width", "whitespace", "case", "punctuation", "units"],
            target="product_category", min_stability=0.90),
        latency_budget_p95=_duration(0.050),
        confidence_level=0.95,
        revalidation_interval=_duration(REVALIDATION_DAYS * 86400),
        bootstrap_resamples=1000,
    )


def seed_filing(version: str, **names: Any) -> pb.Filing:
    """A complete filing for ``version`` of the classify model (all ten groups); ``names``
    are the bootstrap's people and datasets."""
    return draft(
        MODEL_NAME, version, organization="zhijian platform team (智监平台组)", **names,
        purpose=pb.Purpose(
            intended_use="Suggest the product category, device class and review route of a "
                         "submitted product name or description, for a reviewer to confirm.",
            context_of_use="Intake of registration submissions: the suggestion pre-fills the "
                           "reviewer's form; the reviewer decides and may overwrite it.",
            role=pb.MODEL_ROLE_ASSISTIVE,
            prohibited_decisions=["final classification of a product",
                                  "acceptance or refusal of a registration",
                                  "any enforcement decision"],
            out_of_scope_uses=["classified (涉密) documents", "products outside NMPA/FDA "
                               "medical device, drug and cosmetic scope"],
            users=["registration reviewers", "intake clerks"],
            business_scenario="Class II/III medical device registration intake (器械注册受理)",
            algorithm_type="text classification: linear models over character n-grams with "
                           "a catalogue-term knowledge feature",
            task="classify.product_category, classify.device_class, classify.review_route"),
        classification=pb.Classification(
            model_influence=pb.IMPACT_LEVEL_MEDIUM,
            decision_consequence=pb.IMPACT_LEVEL_MEDIUM,
            rationale="The output pre-fills a form that a reviewer must confirm (medium "
                      "influence); a wrong route delays a review but does not decide it "
                      "(medium consequence).",
            max_data_level=types_pb.DATA_LEVEL_L2_GENERAL,
            network_domains=[types_pb.NETWORK_DOMAIN_INTRANET,
                             types_pb.NETWORK_DOMAIN_EXTRANET]),
        technical_description=pb.TechnicalDescription(
            mechanism="Each task is a calibrated linear classifier over character n-grams of "
                      "the text; terms that drove the label are returned with it.",
            architecture="scikit-learn pipeline per task (TF-IDF char 1-4 grams + linear "
                         "model), MLflow pyfunc wrapper, served by BentoML",
            guardrails=["input limited to 4000 characters", "every output labelled as an AI "
                        "draft requiring human review", "probabilities returned so that "
                        "low-confidence output is visible"]),
        validation_plan=validation_plan(),
        oversight=pb.Oversight(
            review_points=["every classification before it enters the review record"],
            stop_authorities=["platform_admin", "sre"],
            output_label="AI 生成的草稿，须经人工审核 / AI draft — requires human review"),
        change_control=pb.ChangeControl(pre_authorized_changes=[
            "retraining on an extended seed corpus under this validation plan"]),
    )
