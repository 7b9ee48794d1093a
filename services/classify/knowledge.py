"""Background knowledge for the classifier: the FDA device product-code catalog.

GUDID records describe devices in the labeler's words (GMDN terms, trade names), while
the class and review panel of a device are properties of its FDA product code. The
catalog (foiclass.txt) names every product code, including the ones no training record
uses, so retrieving the nearest catalog names for a description and letting their class
and panel vote gives the classifier evidence that generalises to unseen product codes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.svm import LinearSVC

# Words that occur in nearly every GMDN definition and would otherwise make every catalog
# entry look alike.
_STOP = frozenset(
    [
        "a",
        "an",
        "the",
        "of",
        "and",
        "or",
        "for",
        "with",
        "to",
        "in",
        "on",
        "by",
        "is",
        "are",
        "be",
        "it",
        "its",
        "this",
        "that",
        "as",
        "from",
        "at",
        "into",
        "used",
        "use",
        "using",
        "device",
        "devices",
        "which",
        "typically",
        "intended",
        "designed",
        "made",
        "may",
        "other",
        "non",
        "can",
        "also",
        "has",
        "have",
        "not",
        "only",
        "such",
    ]
)
_WORD = re.compile(r"[a-z]+")

# The served model names device classes I/II/III, the FDA catalog 1/2/3, NMPA 一类/二类/三类.
_CLASS_ALIASES = {
    "I": "1",
    "II": "2",
    "III": "3",
    "CLASS I": "1",
    "CLASS II": "2",
    "CLASS III": "3",
    "一类": "1",
    "二类": "2",
    "三类": "3",
    "第一类": "1",
    "第二类": "2",
    "第三类": "3",
}


def english_terms(text: str) -> str:
    """Lower-case, drop stop words and plural endings so "Catheters" matches "Catheter"."""
    out: list[str] = []
    for word in _WORD.findall(text.lower()):
        if len(word) < 3 or word in _STOP:
            continue
        if len(word) > 4 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        out.append(word)
    return " ".join(out)


def natural_name(name: str) -> str:
    """Catalog names are written "Noun, Modifier, Modifier" ("Stent, Coronary,
    Drug-Eluting"); labelers write "Drug-Eluting Coronary Stent". Word bigrams only match
    in the natural order."""
    parts = [p.strip() for p in name.split(",") if p.strip()]
    return " ".join(reversed(parts))


@dataclass(frozen=True)
class CatalogEntry:
    product_code: str
    device_name: str
    device_class: str
    review_panel: str
    definition: str = ""


@dataclass(frozen=True)
class CatalogMatch:
    entry: CatalogEntry
    similarity: float

    def describe(self) -> str:
        e = self.entry
        return f"catalog: {e.device_name} (class {e.device_class}, panel {e.review_panel})"


def load_fda_catalog(path: Path) -> list[CatalogEntry]:
    """Parse foiclass.txt: pipe-delimited, latin-1, one product code per line.

    A plain split is used on purpose: a few device names contain stray double quotes
    that make the csv module swallow the following lines.
    """
    lines = path.read_text(encoding="latin-1").splitlines()
    header = lines[0].split("|")
    col = {name: i for i, name in enumerate(header)}
    entries: list[CatalogEntry] = []
    for line in lines[1:]:
        fields = line.split("|")
        if len(fields) != len(header):
            continue
        entries.append(
            CatalogEntry(
                product_code=fields[col["PRODUCTCODE"]].strip(),
                device_name=fields[col["DEVICENAME"]].strip(),
                device_class=fields[col["DEVICECLASS"]].strip(),
                review_panel=fields[col["REVIEW_PANEL"]].strip(),
                definition=fields[col["DEFINITION"]].strip() if "DEFINITION" in col else "",
            )
        )
    return entries


class Knowledge:
    """Retrieval over a device catalog, turned into a fixed-length feature vector.

    Features per text: similarity-weighted class votes and panel votes of the ``top_k``
    nearest catalog entries, the best similarity (how much to trust the votes), and the
    decision scores of linear models trained on the catalog itself (name -> class,
    name -> panel), which generalise past exact name overlap.
    """

    def __init__(self, entries: Sequence[CatalogEntry], *, top_k: int = 10) -> None:
        # Unclassified / not-a-device codes ("U", "N", "f") carry no class evidence.
        usable = [
            e for e in entries if e.device_class in ("1", "2", "3") and e.review_panel.isalpha()
        ]
        if not usable:
            raise ValueError("catalog has no classified entries")
        self.entries: list[CatalogEntry] = usable
        self.top_k = top_k
        self.classes: list[str] = sorted({e.device_class for e in usable})
        self.panels: list[str] = sorted({e.review_panel for e in usable})
        docs = [
            english_terms(f"{e.device_name} {natural_name(e.device_name)} {e.definition[:300]}")
            for e in usable
        ]
        self._word = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
        self._char = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True)
        self._doc_word = self._word.fit_transform(docs).T.tocsr()
        self._doc_char = self._char.fit_transform(docs).T.tocsr()
        class_idx = {c: i for i, c in enumerate(self.classes)}
        panel_idx = {p: i for i, p in enumerate(self.panels)}
        self._class_onehot = np.zeros((len(usable), len(self.classes)))
        self._panel_onehot = np.zeros((len(usable), len(self.panels)))
        for i, e in enumerate(usable):
            self._class_onehot[i, class_idx[e.device_class]] = 1.0
            self._panel_onehot[i, panel_idx[e.review_panel]] = 1.0
        x = sparse.hstack([self._doc_word.T, self._doc_char.T]).tocsr()
        self._class_model = LinearSVC(C=0.5, random_state=0).fit(
            x, [e.device_class for e in usable]
        )
        self._panel_model = LinearSVC(C=0.5, random_state=0).fit(
            x, [e.review_panel for e in usable]
        )

    @classmethod
    def from_fda_catalog(cls, path: Path, *, top_k: int = 10) -> Knowledge:
        return cls(load_fda_catalog(path), top_k=top_k)

    @property
    def feature_names(self) -> list[str]:
        return (
            [f"catalog_vote_class_{c}" for c in self.classes]
            + [f"catalog_vote_panel_{p}" for p in self.panels]
            + ["catalog_best_similarity"]
            + [f"catalog_model_class_{c}" for c in self.classes]
            + [f"catalog_model_panel_{p}" for p in self.panels]
            + [f"catalog_top1_class_{c}" for c in self.classes]
            + [f"catalog_top1_panel_{p}" for p in self.panels]
        )

    def _similarity(self, texts: Sequence[str]) -> tuple[np.ndarray, sparse.csr_matrix]:
        norm = [english_terms(t) for t in texts]
        qw = self._word.transform(norm)
        qc = self._char.transform(norm)
        sim = ((qw @ self._doc_word).toarray() + (qc @ self._doc_char).toarray()) / 2.0
        return sim, sparse.hstack([qw, qc]).tocsr()

    def features(self, texts: Sequence[str]) -> np.ndarray:
        return self.features_with_matches(texts)[0]

    def features_with_matches(
        self, texts: Sequence[str]
    ) -> tuple[np.ndarray, list[CatalogMatch | None]]:
        """Features plus each text's best catalog match (one similarity pass for both)."""
        sim, query = self._similarity(texts)
        arg = sim.argmax(axis=1)
        matches: list[CatalogMatch | None] = [
            CatalogMatch(self.entries[int(j)], float(sim[i, j])) if sim[i, j] > 0 else None
            for i, j in enumerate(arg)
        ]
        k = min(self.top_k, sim.shape[1])
        top = np.argpartition(-sim, k - 1, axis=1)[:, :k]
        # Cubing sharpens the vote towards the closest names without a hard top-1 cut.
        weight = np.take_along_axis(sim, top, axis=1) ** 3
        class_votes = np.einsum("nk,nkc->nc", weight, self._class_onehot[top])
        panel_votes = np.einsum("nk,nkc->nc", weight, self._panel_onehot[top])
        total = weight.sum(axis=1, keepdims=True)
        safe = np.where(total > 0, total, 1.0)
        best = sim.max(axis=1, keepdims=True)
        class_scores = self._class_model.decision_function(query)
        panel_scores = self._panel_model.decision_function(query)
        # A text with no English overlap (e.g. Chinese) gets all-zero evidence, not noise.
        has_match = (best > 0).astype(float)
        feats = np.hstack(
            [
                class_votes / safe,
                panel_votes / safe,
                best,
                class_scores * has_match,
                panel_scores * has_match,
                # The single nearest entry, un-smoothed by its neighbours.
                self._class_onehot[arg] * has_match,
                self._panel_onehot[arg] * has_match,
            ]
        )
        return feats, matches

    def label_evidence(self, features: np.ndarray, labels: Sequence[str]) -> np.ndarray:
        """Per-label evidence taken from ``features`` rows: shape (n, len(labels), 4) =
        (catalog vote, vote x best similarity, catalog-model score, nearest entry has it).

        Labels are matched by meaning, not by task name: a label that is a device class
        ("2", "II", "二类") reads the class columns, one that is a panel code ("CV") the
        panel columns; any other label gets zeros. This lets a classifier weigh catalog
        evidence with one shared weight for every label, so it still helps for labels
        with few (or no) training examples.
        """
        n_class, n_panel = len(self.classes), len(self.panels)
        best = features[:, n_class + n_panel]
        model_offset = n_class + n_panel + 1
        top1_offset = model_offset + n_class + n_panel
        out = np.zeros((features.shape[0], len(labels), 4))
        for j, label in enumerate(labels):
            key = label.strip().upper()
            device_class = _CLASS_ALIASES.get(key, key)
            if device_class in self.classes:
                col = self.classes.index(device_class)
                vote = features[:, col]
                score = features[:, model_offset + col]
                top1 = features[:, top1_offset + col]
            elif key in self.panels:
                col = self.panels.index(key)
                vote = features[:, n_class + col]
                score = features[:, model_offset + n_class + col]
                top1 = features[:, top1_offset + n_class + col]
            else:
                continue
            out[:, j, 0] = vote
            out[:, j, 1] = vote * best
            out[:, j, 2] = score
            out[:, j, 3] = top1
        return out

    def nearest(self, text: str, n: int = 3) -> list[CatalogMatch]:
        sim, _ = self._similarity([text])
        row = sim[0]
        order = np.argsort(-row)[:n]
        return [CatalogMatch(self.entries[i], float(row[i])) for i in order if row[i] > 0]
