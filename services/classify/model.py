"""The text classifier behind the classify service.

Two variants share one API:

* ``domain=False`` - the plain baseline: character n-gram TF-IDF + logistic regression.
* ``domain=True`` - a stacked model. Sparse text features (character n-grams of the whole
  text and of its head segment, English word n-grams, a regulatory vocabulary) feed a
  linear SVM; its out-of-fold scores, similarity-weighted votes of the nearest training
  texts and, when given, catalog retrieval features (``Knowledge``) feed a logistic
  regression that produces the calibrated probabilities.

Everything is plain scikit-learn/numpy/scipy and all callables held in state are
module-level, so a fitted model pickles (it ships inside an MLflow pyfunc model).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC

from services.classify.knowledge import CatalogMatch, Knowledge, english_terms

MAX_TERMS = 5

# Regulatory vocabulary. Order matters: negated and longer phrases come first and consume
# their span, so "不含药" is not also counted as "含药" and "非无菌" not as "无菌".
DOMAIN_VOCABULARY: tuple[str, ...] = (
    # determinations that spell out their own conditions
    "如产品", "分类编码", "按照", "不单独作为", "不作为医疗器械", "药械组合", "医疗器械管理",
    # drug / cosmetic / non-device signals
    "不含药物", "不含药", "含药", "药物", "中药", "中草药", "化妆品", "保湿", "美白", "护肤",
    "日常", "清洁", "保健", "非医疗", "教学", "科研", "示教", "声称", "药理", "抗菌", "抑菌",
    "不被人体吸收", "人体吸收", "无抗菌作用", "抗病毒", "消毒剂", "消毒", "灭菌",
    # accessories that are not devices on their own
    "配合", "配套", "附件", "特定", "专用", "仅用于", "耗材", "连接",
    # product types
    "软件", "人工智能", "算法", "深度学习", "辅助诊断", "辅助决策", "数据",
    "检测试剂盒", "试剂盒", "试剂", "测定", "检测", "校准品", "质控品", "缓冲液", "稀释液",
    "清洗液", "培养基", "染色液", "保存液", "样本", "核酸", "基因", "测序", "pcr", "荧光",
    "病毒", "病原", "微生物", "肿瘤", "抗体", "抗原", "血型", "遗传", "伴随诊断", "耐药",
    "可吸收", "植入", "介入", "血管", "心脏", "冠状动脉", "中枢神经", "神经", "颅", "脑",
    "骨", "眼", "角膜", "晶状体", "牙", "口腔", "义齿", "妇科", "阴道", "宫腔", "生殖",
    "敷料", "创面", "伤口", "止血", "胶原", "透明质酸", "壳聚糖", "银", "手术刀", "手术",
    "导管", "导丝", "支架", "缝线", "假体", "人工", "内窥镜", "腔镜",
    "一次性使用", "非无菌提供", "无菌提供", "非无菌", "无菌", "重复使用", "有源", "无源",
    "激光", "射频", "超声", "电刺激", "磁", "辐射", "x射线", "放射", "高频", "微波",
    "监测", "监护", "诊断", "治疗", "理疗", "按摩", "康复", "训练", "护理", "防护", "口罩",
    "手套", "体温", "血压", "呼吸", "麻醉", "输液", "注射", "透析", "血液",
    "动物源", "同种异体", "生物", "细胞", "组织",
    # English equivalents (GUDID / FDA wording)
    "implantable", "implant", "non-sterile", "sterile", "single use", "single-use",
    "reusable", "software", "catheter", "stent", "prosthesis", "graft", "suture", "mesh",
    "screw", "plate", "nail", "drill", "reagent", "assay", "kit", "powered", "electrode",
    "laser", "ultrasound", "pacemaker", "defibrillator", "valve", "lens", "contact lens",
    "orthopaedic", "orthopedic", "spinal", "cardiac", "vascular", "dental", "ophthalmic",
    "absorbable", "bioabsorbable", "life-supporting", "life-sustaining", "surgical",
    "manual", "examination", "glove", "wound", "dressing", "diagnostic",
)

_HEAD_SPLIT = re.compile(r"[。\n|；;]")


def normalise(text: str) -> str:
    # NFKC folds full-width punctuation and roman numerals (Ⅲ -> III) that vary between
    # writers; case carries no class information.
    return unicodedata.normalize("NFKC", text).lower().strip()


def head_segment(text: str) -> str:
    """The first segment of a text: the product name in NMPA requests, the brand or
    description in GUDID ones. Names carry the product type, so they get own features."""
    return _HEAD_SPLIT.split(text, maxsplit=1)[0].strip()


class VocabularyAnalyzer:
    """Finds ``DOMAIN_VOCABULARY`` phrases in a normalised text (a picklable analyzer)."""

    def __init__(self, vocabulary: Sequence[str] = DOMAIN_VOCABULARY) -> None:
        self.vocabulary = tuple(dict.fromkeys(v.lower() for v in vocabulary))

    def __call__(self, text: str) -> list[str]:
        found: list[str] = []
        for phrase in self.vocabulary:
            if phrase in text:
                found.append(phrase)
                # Blank the span so shorter phrases inside it (含药 in 不含药) do not fire.
                text = text.replace(phrase, "\x00")
        return found


@dataclass(frozen=True)
class TaskPrediction:
    label: str
    probabilities: dict[str, float]
    terms: list[str]


@dataclass
class _Features:
    matrix: sparse.csr_matrix  # all sparse blocks, for the linear model
    neighbours: sparse.csr_matrix  # L2-normalised char block, for nearest-neighbour votes
    knowledge: np.ndarray | None
    matches: list[CatalogMatch | None]

    def rows(self, index: np.ndarray) -> _Features:
        return _Features(
            self.matrix[index],
            self.neighbours[index],
            None if self.knowledge is None else self.knowledge[index],
            [self.matches[i] for i in index],
        )


class _Featurizer:
    """Unsupervised text -> features step; fitted once and shared by all tasks."""

    def __init__(self, *, domain: bool, knowledge: Knowledge | None) -> None:
        self.domain = domain
        self.knowledge = knowledge if domain else None
        self._blocks: list[tuple[str, TfidfVectorizer]] = []
        self.term_names: list[str] = []
        self.term_usable: np.ndarray = np.zeros(0, dtype=bool)

    def _block_input(self, part: str, texts: Sequence[str]) -> list[str]:
        if part == "head":
            return [head_segment(t) for t in texts]
        return list(texts)

    def fit(self, texts: Sequence[str]) -> _Featurizer:
        if self.domain:
            self._blocks = [
                ("char", TfidfVectorizer(
                    analyzer="char", ngram_range=(1, 3), sublinear_tf=True,
                    max_features=300_000, dtype=np.float32,
                )),
                ("head", TfidfVectorizer(
                    analyzer="char", ngram_range=(1, 3), sublinear_tf=True, dtype=np.float32,
                )),
                ("word", TfidfVectorizer(
                    preprocessor=english_terms, ngram_range=(1, 2), sublinear_tf=True,
                    dtype=np.float32,
                )),
                ("vocab", TfidfVectorizer(
                    analyzer=VocabularyAnalyzer(), binary=True, use_idf=False, dtype=np.float32,
                )),
            ]
        else:
            self._blocks = [
                ("char", TfidfVectorizer(
                    analyzer="char_wb", ngram_range=(1, 3), sublinear_tf=True, dtype=np.float32,
                )),
            ]
        names: list[str] = []
        for part, vectorizer in self._blocks:
            try:
                vectorizer.fit(self._block_input(part, texts))
                names.extend(str(n) for n in vectorizer.get_feature_names_out())
            except ValueError:
                # A block with no tokens at all (e.g. no English words in a Chinese
                # corpus) is simply left out.
                vectorizer.vocabulary_ = {}
        self._blocks = [(p, v) for p, v in self._blocks if v.vocabulary_]
        self.term_names = [n.strip() for n in names]
        # Single characters and whitespace/punctuation fragments explain nothing to a
        # reviewer; they still count as features, they are just never shown as terms.
        self.term_usable = np.array(
            [len(n) >= 2 and any(ch.isalnum() for ch in n) for n in self.term_names], dtype=bool
        )
        return self

    def transform(self, texts: Sequence[str]) -> _Features:
        norm = [normalise(t) for t in texts]
        mats = [v.transform(self._block_input(p, norm)) for p, v in self._blocks]
        matrix = sparse.hstack(mats, format="csr", dtype=np.float32)
        neighbours = mats[0].tocsr()
        knowledge: np.ndarray | None = None
        matches: list[CatalogMatch | None] = [None] * len(texts)
        if self.knowledge is not None:
            knowledge, matches = self.knowledge.features_with_matches(list(texts))
        return _Features(matrix, neighbours, knowledge, matches)


def _scores_for(model: LinearSVC, x: sparse.csr_matrix, classes: list[str]) -> np.ndarray:
    """Decision scores aligned to ``classes`` even when a fold lacked some of them."""
    raw = model.decision_function(x)
    fitted = [str(c) for c in model.classes_]
    if raw.ndim == 1:
        raw = np.column_stack([-raw, raw])
    # An absent class gets a clearly-negative margin, as if the SVM had rejected it.
    out = np.full((x.shape[0], len(classes)), -1.0)
    for j, c in enumerate(fitted):
        out[:, classes.index(c)] = raw[:, j]
    return out


def _softmax(logits: np.ndarray) -> np.ndarray:
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def _neighbour_votes(
    sim: sparse.spmatrix | np.ndarray, labels: np.ndarray, n_classes: int, k: int
) -> np.ndarray:
    """Similarity-weighted label votes of the ``k`` nearest training texts, plus the best
    similarity: near-duplicates of known products should simply inherit their label."""
    dense = sim.toarray() if sparse.issparse(sim) else np.asarray(sim)
    n, m = dense.shape
    out = np.zeros((n, n_classes + 1))
    if m == 0:
        return out
    k = min(k, m)
    top = np.argpartition(-dense, k - 1, axis=1)[:, :k]
    weight = np.take_along_axis(dense, top, axis=1) ** 2
    votes = np.zeros((n, n_classes))
    np.add.at(votes, (np.repeat(np.arange(n), k), labels[top].ravel()), weight.ravel())
    total = votes.sum(axis=1, keepdims=True)
    out[:, :n_classes] = votes / np.where(total > 0, total, 1.0)
    out[:, n_classes] = dense.max(axis=1)
    return out


class TextClassifier:
    """One classification task over free text (Chinese, English or mixed)."""

    def __init__(
        self, *, domain: bool = True, knowledge: Knowledge | None = None, random_state: int = 0
    ) -> None:
        self.domain = domain
        self.knowledge = knowledge
        self.random_state = random_state
        self.n_neighbours = 10
        self.inner_folds = 5
        self._featurizer: _Featurizer | None = None
        self._classes: list[str] = []
        self._svm: LinearSVC | None = None
        self._plain: CalibratedClassifierCV | None = None
        self._meta: LogisticRegression | None = None
        self._train_neighbours: sparse.csr_matrix | None = None
        self._train_codes: np.ndarray = np.zeros(0, dtype=int)

    @property
    def classes_(self) -> list[str]:
        return list(self._classes)

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> TextClassifier:
        if len(texts) != len(labels):
            raise ValueError("texts and labels differ in length")
        if not texts:
            raise ValueError("no training texts")
        featurizer = _Featurizer(domain=self.domain, knowledge=self.knowledge)
        featurizer.fit([normalise(t) for t in texts])
        self._fit_features(featurizer, featurizer.transform(texts), list(texts), labels)
        return self

    def _fit_features(
        self,
        featurizer: _Featurizer,
        feats: _Features,
        texts: Sequence[str],
        labels: Sequence[str],
    ) -> None:
        self._featurizer = featurizer
        y = [str(label) for label in labels]
        self._classes = sorted(set(y))
        codes = np.array([self._classes.index(label) for label in y])
        self._svm = self._plain = self._meta = None
        if len(self._classes) < 2:
            return
        if not self.domain:
            if np.bincount(codes).min() >= 3:
                # Sigmoid calibration on 3 internal folds turns SVM margins into
                # probabilities at a fraction of the cost of a high-C logistic regression.
                self._plain = CalibratedClassifierCV(
                    LinearSVC(C=0.5, random_state=self.random_state),
                    method="sigmoid", cv=3, ensemble=False,
                ).fit(feats.matrix, y)
            else:
                self._svm = LinearSVC(C=0.5, random_state=self.random_state).fit(feats.matrix, y)
            return
        self._svm = self._new_svm().fit(feats.matrix, y)
        self._train_neighbours = feats.neighbours
        self._train_codes = codes
        # The stacker must learn from scores on texts the SVM did not see; folds keep
        # texts with the same head (product name) together, like the evaluation does.
        folds = self._inner_folds([head_segment(normalise(t)) for t in texts])
        if not folds:
            return
        stacked: np.ndarray | None = None
        for train_idx, held_idx in folds:
            part = feats.rows(train_idx)
            svm = self._new_svm().fit(part.matrix, [y[i] for i in train_idx])
            block = self._stack(feats.rows(held_idx), svm, part.neighbours, codes[train_idx])
            if stacked is None:
                stacked = np.zeros((len(y), *block.shape[1:]))
            stacked[held_idx] = block
        assert stacked is not None
        target = (codes[:, None] == np.arange(len(self._classes))[None, :]).astype(int)
        # Rows outside every usable fold stay all-zero; leave them out of the stacker.
        covered = np.zeros(len(y), dtype=bool)
        for _, held_idx in folds:
            covered[held_idx] = True
        self._meta = LogisticRegression(C=1.0, max_iter=3000).fit(
            self._long(stacked[covered]), target[covered].ravel()
        )

    def _new_svm(self) -> LinearSVC:
        return LinearSVC(C=1.0, class_weight="balanced", random_state=self.random_state)

    def _inner_folds(self, groups: list[str]) -> list[tuple[np.ndarray, np.ndarray]]:
        unique = sorted(set(groups))
        n_splits = min(self.inner_folds, len(unique))
        if n_splits < 2:
            return []
        order = np.random.default_rng(self.random_state).permutation(len(unique))
        fold_of = {unique[j]: i % n_splits for i, j in enumerate(order)}
        fold = np.array([fold_of[g] for g in groups])
        folds = [(np.flatnonzero(fold != f), np.flatnonzero(fold == f)) for f in range(n_splits)]
        # A fold whose training part has a single label cannot train an SVM.
        return [(a, b) for a, b in folds if len(set(self._train_codes_or(a))) >= 2]

    def _train_codes_or(self, index: np.ndarray) -> list[int]:
        return [int(c) for c in self._train_codes[index]] if len(self._train_codes) else []

    def _stack(
        self,
        feats: _Features,
        svm: LinearSVC,
        train_neighbours: sparse.csr_matrix,
        train_codes: np.ndarray,
    ) -> np.ndarray:
        """Per-(text, label) evidence, shape (n, n_labels, m).

        The stacker is a conditional logit: one weight per kind of evidence shared by all
        labels, plus a per-label bias. Shared weights need far fewer examples than a
        weight per label and evidence kind, and they let catalog votes speak for labels
        that are rare in training.
        """
        n_labels = len(self._classes)
        scores = _scores_for(svm, feats.matrix, self._classes)
        votes = _neighbour_votes(
            feats.neighbours @ train_neighbours.T, train_codes, n_labels, self.n_neighbours
        )
        best = votes[:, -1:]
        parts = [scores[:, :, None], votes[:, :-1, None], (votes[:, :-1] * best)[:, :, None]]
        if feats.knowledge is not None and self._featurizer is not None:
            knowledge = self._featurizer.knowledge
            assert knowledge is not None
            parts.append(knowledge.label_evidence(feats.knowledge, self._classes))
        bias = np.broadcast_to(np.eye(n_labels), (scores.shape[0], n_labels, n_labels))
        parts.append(bias)
        return np.concatenate(parts, axis=2)

    @staticmethod
    def _long(stacked: np.ndarray) -> np.ndarray:
        return stacked.reshape(-1, stacked.shape[2])

    def predict(self, texts: Sequence[str]) -> list[TaskPrediction]:
        if self._featurizer is None:
            raise RuntimeError("classifier is not fitted")
        return self._predict_features(self._featurizer.transform(texts), list(texts))

    def _probabilities(self, feats: _Features) -> np.ndarray:
        n = feats.matrix.shape[0]
        if len(self._classes) < 2:
            return np.ones((n, 1))
        if self._plain is not None:
            return self._align(self._plain.predict_proba(feats.matrix), self._plain.classes_)
        assert self._svm is not None and self._train_neighbours is not None
        if self._meta is None:
            # Too little data to stack: softmax of the SVM margins is the best we have.
            return _softmax(_scores_for(self._svm, feats.matrix, self._classes))
        stacked = self._stack(feats, self._svm, self._train_neighbours, self._train_codes)
        logits = self._meta.decision_function(self._long(stacked)).reshape(n, -1)
        return _softmax(logits)

    def _align(self, proba: np.ndarray, fitted: np.ndarray) -> np.ndarray:
        out = np.zeros((proba.shape[0], len(self._classes)))
        for j, c in enumerate(fitted):
            out[:, self._classes.index(str(c))] = proba[:, j]
        total = out.sum(axis=1, keepdims=True)
        return out / np.where(total > 0, total, 1.0)

    def _predict_features(self, feats: _Features, texts: list[str]) -> list[TaskPrediction]:
        proba = self._probabilities(feats)
        best = proba.argmax(axis=1)
        results: list[TaskPrediction] = []
        for i, text in enumerate(texts):
            label = self._classes[int(best[i])]
            results.append(
                TaskPrediction(
                    label=label,
                    probabilities={c: float(p) for c, p in zip(self._classes, proba[i])},
                    terms=self._terms(feats, i, label, text),
                )
            )
        return results

    def _linear_weights(self, label: str) -> np.ndarray | None:
        model: LinearSVC | None = self._svm
        if model is None and self._plain is not None:
            model = self._plain.calibrated_classifiers_[0].estimator
        if model is None:
            return None
        fitted = [str(c) for c in model.classes_]
        coef = model.coef_
        if coef.shape[0] == 1:
            # Binary models keep one weight row, pointing towards the second class.
            return coef[0] if label == fitted[1] else -coef[0]
        return coef[fitted.index(label)]

    def _terms(self, feats: _Features, row: int, label: str, text: str) -> list[str]:
        """Input terms with the largest positive contribution to the chosen label."""
        assert self._featurizer is not None
        terms: list[str] = []
        match = feats.matches[row]
        if match is not None and match.similarity >= 0.2:
            terms.append(match.describe())
        weights = self._linear_weights(label)
        haystack = normalise(text)
        if weights is not None:
            x = feats.matrix.getrow(row)
            cols = x.indices
            contrib = x.data * weights[cols]
            names = self._featurizer.term_names
            usable = self._featurizer.term_usable
            for j in np.argsort(-contrib):
                if len(terms) >= MAX_TERMS or contrib[j] <= 0:
                    break
                col = int(cols[j])
                name = names[col]
                # Shown terms must be readable text from the input; skip overlapping
                # n-grams already covered by a longer chosen term.
                if not usable[col] or name not in haystack:
                    continue
                if any(name in t or t in name for t in terms):
                    continue
                terms.append(name)
        if not terms:
            terms = self._fallback_terms(haystack)
        return terms[:MAX_TERMS]

    @staticmethod
    def _fallback_terms(haystack: str) -> list[str]:
        head = head_segment(haystack)
        return [head[:40]] if head else ([haystack[:40]] if haystack else [])


class MultiTaskClassifier:
    """The served model: one ``TextClassifier`` per task over shared text features."""

    def __init__(
        self,
        tasks: Sequence[str],
        *,
        domain: bool = True,
        knowledge: Knowledge | None = None,
        random_state: int = 0,
    ) -> None:
        if not tasks:
            raise ValueError("at least one task is required")
        self._tasks = tuple(tasks)
        self.domain = domain
        self.knowledge = knowledge
        self.random_state = random_state
        self._featurizer: _Featurizer | None = None
        self._models: dict[str, TextClassifier] = {}

    @property
    def tasks(self) -> tuple[str, ...]:
        return self._tasks

    def classes(self, task: str) -> list[str]:
        return self._model(task).classes_

    def _model(self, task: str) -> TextClassifier:
        if task not in self._models:
            raise KeyError(f"unknown or unfitted task: {task}")
        return self._models[task]

    def fit(
        self, texts: Sequence[str], labels: Mapping[str, Sequence[str | None]]
    ) -> MultiTaskClassifier:
        missing = [t for t in self._tasks if t not in labels]
        if missing:
            raise ValueError(f"no labels for tasks: {missing}")
        featurizer = _Featurizer(domain=self.domain, knowledge=self.knowledge)
        featurizer.fit([normalise(t) for t in texts])
        feats = featurizer.transform(texts)
        models: dict[str, TextClassifier] = {}
        for task in self._tasks:
            task_labels = labels[task]
            if len(task_labels) != len(texts):
                raise ValueError(f"task {task}: labels differ in length from texts")
            keep = np.array([i for i, lab in enumerate(task_labels) if lab is not None], dtype=int)
            if len(keep) == 0:
                raise ValueError(f"task {task} has no labelled rows")
            model = TextClassifier(
                domain=self.domain, knowledge=self.knowledge, random_state=self.random_state
            )
            model._fit_features(
                featurizer,
                feats.rows(keep),
                [texts[i] for i in keep],
                [str(task_labels[i]) for i in keep],
            )
            models[task] = model
        self._featurizer = featurizer
        self._models = models
        return self

    def predict(
        self, texts: Sequence[str], tasks: Sequence[str] | None = None
    ) -> list[dict[str, TaskPrediction]]:
        if self._featurizer is None:
            raise RuntimeError("classifier is not fitted")
        wanted = self._tasks if tasks is None else tuple(tasks)
        feats = self._featurizer.transform(texts)
        out: list[dict[str, TaskPrediction]] = [{} for _ in texts]
        for task in wanted:
            for i, prediction in enumerate(self._model(task)._predict_features(feats, list(texts))):
                out[i][task] = prediction
        return out
