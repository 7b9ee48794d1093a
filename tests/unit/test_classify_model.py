"""Unit tests for the classify model and catalog knowledge on small hand-made data."""

from __future__ import annotations

import pickle
import unicodedata
from pathlib import Path

import pytest

from services.classify.knowledge import Knowledge, load_fda_catalog
from services.classify.model import MultiTaskClassifier, TaskPrediction, TextClassifier

TEXTS = [
    "一次性使用无菌注射器。由外套、芯杆组成。无菌提供。用于注射药液。",
    "医用外科口罩。由无纺布组成。用于手术室防护。",
    "冠状动脉药物洗脱支架。植入冠状动脉，用于治疗狭窄。",
    "人工髋关节假体。植入人体，用于髋关节置换。",
    "乙型肝炎病毒核酸检测试剂盒（荧光PCR法）。用于检测病毒核酸。",
    "样本稀释液。由缓冲液组成。用于样本稀释。",
    "保湿面霜。用于日常护肤保湿，化妆品。",
    "Sterile single use hypodermic syringe | Syringe, piston",
    "Implantable cardiac pacemaker | Pacemaker, implantable, dual chamber",
    "Reusable orthopaedic drill bit | Fluted surgical drill, reusable",
    "Coronary drug-eluting stent | Stent, coronary, implantable",
    "Examination glove, latex | Patient examination glove",
]
CLASSES = ["II", "II", "III", "III", "III", "I", "not_applicable", "II", "III", "I", "III", "I"]
CATEGORY = [
    "device",
    "device",
    "combination",
    "device",
    "device",
    "device",
    "cosmetic",
    "device",
    "device",
    "device",
    "combination",
    None,
]

CATALOG = """REVIEW_PANEL|MEDICALSPECIALTY|PRODUCTCODE|DEVICENAME|DEVICECLASS|DEFINITION
CV|CV|DXY|Pacemaker, Implantable, Dual Chamber|3|
CV|CV|NIQ|Stent, Coronary, Drug-Eluting|3|
OR|OR|HTW|Bit, Drill|1|
GU|GU|KDD|Glove, Patient Examination, Latex|1|"quoted
HO|HO|FMF|Syringe, Piston|2|
SU|SU|XXX|Unclassified thing|U|
"""


def _terms_from_input(prediction: TaskPrediction, text: str) -> bool:
    haystack = unicodedata.normalize("NFKC", text).lower()
    return all(t.startswith("catalog:") or t in haystack for t in prediction.terms)


@pytest.fixture(scope="module")
def knowledge(tmp_path_factory: pytest.TempPathFactory) -> Knowledge:
    path = Path(tmp_path_factory.mktemp("catalog")) / "foiclass.txt"
    path.write_text(CATALOG, encoding="latin-1")
    return Knowledge.from_fda_catalog(path, top_k=3)


@pytest.mark.parametrize("domain", [True, False])
def test_text_classifier_shapes_and_probabilities(domain: bool) -> None:
    model = TextClassifier(domain=domain).fit(TEXTS, [c for c in CLASSES])
    assert model.classes_ == sorted(set(CLASSES))
    predictions = model.predict(TEXTS[:5])
    assert len(predictions) == 5
    for text, p in zip(TEXTS[:5], predictions, strict=True):
        assert set(p.probabilities) == set(model.classes_)
        assert sum(p.probabilities.values()) == pytest.approx(1.0, abs=1e-6)
        assert p.label == max(p.probabilities, key=lambda k: p.probabilities[k])
        assert 1 <= len(p.terms) <= 5
        assert _terms_from_input(p, text)


def test_domain_model_fits_its_training_data() -> None:
    model = TextClassifier(domain=True).fit(TEXTS, CLASSES)
    predicted = [p.label for p in model.predict(TEXTS)]
    correct = sum(a == b for a, b in zip(predicted, CLASSES, strict=True))
    assert correct >= len(TEXTS) - 2


def test_unseen_mixed_text_predicts() -> None:
    model = TextClassifier(domain=True).fit(TEXTS, CLASSES)
    (p,) = model.predict(["植入式 cardiac pacemaker 心脏起搏器"])
    assert p.label in model.classes_
    assert p.terms


def test_single_label_training_still_predicts() -> None:
    model = TextClassifier().fit(TEXTS[:3], ["II", "II", "II"])
    (p,) = model.predict(["anything at all"])
    assert p.label == "II" and p.probabilities == {"II": 1.0}


def test_multitask_skips_none_labels_and_pickles(knowledge: Knowledge) -> None:
    model = MultiTaskClassifier(["device_class", "product_category"], knowledge=knowledge).fit(
        TEXTS, {"device_class": CLASSES, "product_category": CATEGORY}
    )
    assert model.tasks == ("device_class", "product_category")
    assert model.classes("product_category") == sorted({c for c in CATEGORY if c is not None})
    assert model.classes("device_class") == sorted(set(CLASSES))
    out = model.predict(TEXTS[:3])
    assert [set(o) for o in out] == [{"device_class", "product_category"}] * 3
    only = model.predict(TEXTS[:2], tasks=["product_category"])
    assert [set(o) for o in only] == [{"product_category"}] * 2

    restored = pickle.loads(pickle.dumps(model))
    again = restored.predict(TEXTS[:3])
    for a, b in zip(out, again, strict=True):
        for task in a:
            assert a[task].label == b[task].label
            assert a[task].probabilities == pytest.approx(b[task].probabilities)
    with pytest.raises(KeyError):
        model.classes("review_route")


def test_multitask_requires_labels_for_every_task() -> None:
    with pytest.raises(ValueError):
        MultiTaskClassifier(["a", "b"]).fit(TEXTS, {"a": CLASSES})


def test_plain_and_domain_both_work_for_multitask() -> None:
    for domain in (True, False):
        model = MultiTaskClassifier(["device_class"], domain=domain).fit(
            TEXTS, {"device_class": CLASSES}
        )
        (pred,) = model.predict([TEXTS[2]])
        assert sum(pred["device_class"].probabilities.values()) == pytest.approx(1.0)


def test_catalog_loader_skips_nothing_and_keeps_quotes(tmp_path: Path) -> None:
    path = tmp_path / "foiclass.txt"
    path.write_text(CATALOG, encoding="latin-1")
    entries = load_fda_catalog(path)
    assert [e.product_code for e in entries] == ["DXY", "NIQ", "HTW", "KDD", "FMF", "XXX"]


def test_knowledge_retrieves_and_gives_label_evidence(knowledge: Knowledge) -> None:
    # The unclassified ("U") code carries no class evidence and is dropped.
    assert {e.product_code for e in knowledge.entries} == {"DXY", "NIQ", "HTW", "KDD", "FMF"}
    nearest = knowledge.nearest("dual chamber implantable pacemaker", n=1)
    assert nearest[0].entry.product_code == "DXY"
    assert "catalog: Pacemaker" in nearest[0].describe()
    feats = knowledge.features(["drill bit for bone", "中文文本没有英文"])
    assert feats.shape == (2, len(knowledge.feature_names))
    assert not feats[1].any()
    evidence = knowledge.label_evidence(feats, ["1", "III", "OR", "unknown"])
    assert evidence.shape == (2, 4, 4)
    assert evidence[0, 0, 0] > evidence[0, 1, 0]  # drill -> class 1 vote beats class 3
    assert evidence[0, 2, 0] > 0  # ...and the OR panel gets the vote
    assert not evidence[:, 3].any()


def test_catalog_terms_are_reported_with_knowledge(knowledge: Knowledge) -> None:
    model = TextClassifier(knowledge=knowledge).fit(TEXTS, CLASSES)
    (p,) = model.predict(["Implantable pacemaker, dual chamber"])
    assert any(t.startswith("catalog: Pacemaker") for t in p.terms)


def test_single_text_predict_matches_batch_predict() -> None:
    route: list[str | None] = [
        "14", "14", "03", "13", "22", "22", "none", "14", "12", "04", "03", "14"
    ]
    labels: dict[str, list[str | None]] = {
        "device_class": list(CLASSES),
        "product_category": CATEGORY,
        "review_route": route,
    }
    model = MultiTaskClassifier(list(labels), random_state=0).fit(TEXTS, labels)
    texts = [*TEXTS, "未见过的产品 unseen product"]
    batch = model.predict(texts)
    for text, together in zip(texts, batch, strict=True):
        (alone,) = model.predict([text])
        assert set(alone) == set(labels)
        for task in labels:
            assert alone[task].label == together[task].label
            assert alone[task].probabilities == pytest.approx(together[task].probabilities)
            assert alone[task].terms == together[task].terms
            assert sum(alone[task].probabilities.values()) == pytest.approx(1.0, abs=1e-6)
            assert set(alone[task].probabilities) == set(model.classes(task))
