import json

import pytest

from services.classify.training import SEED_CORPUS, CorpusError, dev_split, load_corpus


def write(tmp_path, lines):
    path = tmp_path / "corpus.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_the_seed_corpus_loads_and_covers_every_label():
    from services.classify.labels import LABELS

    corpus = load_corpus(SEED_CORPUS)
    assert len(corpus) > 500
    for task, labels in LABELS.items():
        assert set(corpus.counts()[task]) == set(labels), task


def test_missing_task_labels_are_none_and_the_hash_is_of_the_file(tmp_path):
    rows = [{"text": "电子血压计", "device_class": "II", "product_category": "device"},
            {"text": "阿莫西林胶囊", "product_category": "drug", "device_class": None},
            {"text": "Hydrocolloid dressing", "device_class": "I", "review_route": "14"},
            {"text": "Sunscreen", "review_route": "cosmetic", "product_category": "cosmetic"}]
    path = write(tmp_path, [json.dumps(r, ensure_ascii=False) for r in rows])
    corpus = load_corpus(path)
    assert corpus.labels["device_class"] == ["II", None, "I", None]
    import hashlib

    assert corpus.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(("line", "message"), [
    ('{"text": "x", "device_class": "IV"}', r"corpus.jsonl:2: device_class='IV' is not one of"),
    ('{"text": ""}', r"corpus.jsonl:2: 'text' must be a non-empty string"),
    ("not json", r"corpus.jsonl:2: not JSON"),
    ('["a list"]', r"corpus.jsonl:2: expected a JSON object"),
])
def test_bad_records_are_reported_with_their_line(tmp_path, line, message):
    good = '{"text": "电子血压计", "device_class": "II"}'
    with pytest.raises(CorpusError, match=message):
        load_corpus(write(tmp_path, [good, line]))


def test_a_task_with_one_label_cannot_be_trained(tmp_path):
    lines = [json.dumps({"text": f"t{i}", "device_class": "II", "product_category": "device",
                         "review_route": "07"}) for i in range(3)]
    with pytest.raises(CorpusError, match="needs at least two labels"):
        load_corpus(write(tmp_path, lines))


def test_unreadable_files_are_corpus_errors(tmp_path):
    with pytest.raises(CorpusError, match="cannot read"):
        load_corpus(tmp_path / "absent.jsonl")


def test_dev_split_depends_on_text_not_order():
    texts = [f"产品{i}" for i in range(200)]
    train, dev = dev_split(texts)
    assert 20 < len(dev) < 60 and sorted(train + dev) == list(range(200))
    _, dev_reversed = dev_split(texts[::-1])
    assert {texts[i] for i in dev} == {texts[::-1][i] for i in dev_reversed}
