"""The text classifier behind the classify service.

Two variants share one API:

* ``domain=False`` - the plain baseline: character n-gram TF-IDF + calibrated linear SVM.
* ``domain=True`` - a stacked model. Sparse text features (character n-grams of the whole
  text and of its head segment, English word n-grams, a regulatory vocabulary) feed a
  linear SVM, the baseline's char_wb view a second one; their out-of-fold scores and
  similarity-weighted votes of the nearest training texts feed a logistic regression
  that produces the probabilities. With catalog knowledge (``Knowledge``) whose labels
  match the task (device classes, review panels), a label ranker with weights shared by
  all labels replaces it, so catalog evidence can decide labels with few or no training
  examples (the label space then covers every catalog label).

Serving speed: text features are computed once per ``predict`` call from the fitted
vocabularies (no scikit-learn calls on the serving path), shared by all tasks of a
``MultiTaskClassifier`` together with the neighbour similarities, and every fitted
model is held as plain numpy arrays (float32 weights). Vocabularies are bounded
(``min_df``/``max_features``), which keeps the pickled model small.

Everything is plain scikit-learn/numpy/scipy and all callables held in state are
module-level, so a fitted model pickles (it ships inside an MLflow pyfunc model).
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC
from threadpoolctl import threadpool_limits

from services.classify.knowledge import CatalogMatch, Knowledge, english_terms

MAX_TERMS = 5

# Regulatory vocabulary. Order matters: negated and longer phrases come first and consume
# their span, so "不含药" is not also counted as "含药" and "非无菌" not as "无菌".
DOMAIN_VOCABULARY: tuple[str, ...] = (
    # determinations that spell out their own conditions
    "如产品",
    "分类编码",
    "按照",
    "不单独作为",
    "不作为医疗器械",
    "药械组合",
    "医疗器械管理",
    # drug / cosmetic / non-device signals
    "不含药物",
    "不含药",
    "含药",
    "药物",
    "中药",
    "中草药",
    "化妆品",
    "保湿",
    "美白",
    "护肤",
    "日常",
    "清洁",
    "保健",
    "非医疗",
    "教学",
    "科研",
    "示教",
    "声称",
    "药理",
    "抗菌",
    "抑菌",
    "不被人体吸收",
    "人体吸收",
    "无抗菌作用",
    "抗病毒",
    "消毒剂",
    "消毒",
    "灭菌",
    # accessories that are not devices on their own
    "配合",
    "配套",
    "附件",
    "特定",
    "专用",
    "仅用于",
    "耗材",
    "连接",
    # product types
    "软件",
    "人工智能",
    "算法",
    "深度学习",
    "辅助诊断",
    "辅助决策",
    "数据",
    "检测试剂盒",
    "试剂盒",
    "试剂",
    "测定",
    "检测",
    "校准品",
    "质控品",
    "缓冲液",
    "稀释液",
    "清洗液",
    "培养基",
    "染色液",
    "保存液",
    "样本",
    "核酸",
    "基因",
    "测序",
    "pcr",
    "荧光",
    "病毒",
    "病原",
    "微生物",
    "肿瘤",
    "抗体",
    "抗原",
    "血型",
    "遗传",
    "伴随诊断",
    "耐药",
    "可吸收",
    "植入",
    "介入",
    "血管",
    "心脏",
    "冠状动脉",
    "中枢神经",
    "神经",
    "颅",
    "脑",
    "骨",
    "眼",
    "角膜",
    "晶状体",
    "牙",
    "口腔",
    "义齿",
    "妇科",
    "阴道",
    "宫腔",
    "生殖",
    "敷料",
    "创面",
    "伤口",
    "止血",
    "胶原",
    "透明质酸",
    "壳聚糖",
    "银",
    "手术刀",
    "手术",
    "导管",
    "导丝",
    "支架",
    "缝线",
    "假体",
    "人工",
    "内窥镜",
    "腔镜",
    "一次性使用",
    "非无菌提供",
    "无菌提供",
    "非无菌",
    "无菌",
    "重复使用",
    "有源",
    "无源",
    "激光",
    "射频",
    "超声",
    "电刺激",
    "磁",
    "辐射",
    "x射线",
    "放射",
    "高频",
    "微波",
    "监测",
    "监护",
    "诊断",
    "治疗",
    "理疗",
    "按摩",
    "康复",
    "训练",
    "护理",
    "防护",
    "口罩",
    "手套",
    "体温",
    "血压",
    "呼吸",
    "麻醉",
    "输液",
    "注射",
    "透析",
    "血液",
    "动物源",
    "同种异体",
    "生物",
    "细胞",
    "组织",
    # English equivalents (GUDID / FDA wording)
    "implantable",
    "implant",
    "non-sterile",
    "sterile",
    "single use",
    "single-use",
    "reusable",
    "software",
    "catheter",
    "stent",
    "prosthesis",
    "graft",
    "suture",
    "mesh",
    "screw",
    "plate",
    "nail",
    "drill",
    "reagent",
    "assay",
    "kit",
    "powered",
    "electrode",
    "laser",
    "ultrasound",
    "pacemaker",
    "defibrillator",
    "valve",
    "lens",
    "contact lens",
    "orthopaedic",
    "orthopedic",
    "spinal",
    "cardiac",
    "vascular",
    "dental",
    "ophthalmic",
    "absorbable",
    "bioabsorbable",
    "life-supporting",
    "life-sustaining",
    "surgical",
    "manual",
    "examination",
    "glove",
    "wound",
    "dressing",
    "diagnostic",
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


_WHITESPACE = re.compile(r"\s\s+")


class CharNgrams:
    """Character n-grams of a normalised text (picklable; used for fitting and serving).

    ``word_bounded`` pads each whitespace-separated word with spaces and keeps n-grams
    inside it (sklearn's ``char_wb``); ``head`` analyses only ``head_segment``.
    """

    def __init__(self, low: int, high: int, *, word_bounded: bool = False, head: bool = False):
        self.low = low
        self.high = high
        self.word_bounded = word_bounded
        self.head = head

    def __call__(self, text: str) -> list[str]:
        if self.head:
            text = head_segment(text)
        text = _WHITESPACE.sub(" ", text)
        pieces = [f" {w} " for w in text.split()] if self.word_bounded else [text]
        grams: list[str] = []
        for piece in pieces:
            size = len(piece)
            for n in range(self.low, min(self.high, size) + 1):
                grams.extend(piece[i : i + n] for i in range(size - n + 1))
        return grams


class WordNgrams:
    """English word uni- and bigrams after ``english_terms`` (stop words, plurals)."""

    def __call__(self, text: str) -> list[str]:
        words = english_terms(text).split()
        return words + [f"{a} {b}" for a, b in itertools.pairwise(words)]


@dataclass
class _Block:
    """One fitted feature block: its analyzer, vocabulary and idf weights."""

    name: str
    analyzer: Callable[[str], list[str]]
    vocabulary: dict[str, int]
    idf: np.ndarray | None  # float32, None for binary blocks
    binary: bool

    def row(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """Column indices and L2-normalised tf-idf values of one text."""
        vocabulary = self.vocabulary
        counts: dict[int, int] = {}
        for token in self.analyzer(text):
            j = vocabulary.get(token)
            if j is not None:
                counts[j] = counts.get(j, 0) + 1
        if not counts:
            return _NO_COLS, _NO_VALUES
        cols = np.fromiter(counts.keys(), dtype=np.int32, count=len(counts))
        if self.binary:
            values = np.ones(len(counts), dtype=np.float32)
        else:
            tf = np.fromiter(counts.values(), dtype=np.float32, count=len(counts))
            values = np.log(tf) + np.float32(1.0)  # sublinear tf
        if self.idf is not None:
            values *= self.idf[cols]
        values /= np.sqrt(np.dot(values, values))
        return cols, values


_NO_COLS = np.zeros(0, dtype=np.int32)
_NO_VALUES = np.zeros(0, dtype=np.float32)


def _csr(rows: list[tuple[np.ndarray, np.ndarray]], width: int) -> sparse.csr_matrix:
    indptr = np.zeros(len(rows) + 1, dtype=np.int32)
    indptr[1:] = np.cumsum([len(c) for c, _ in rows])
    indices = np.concatenate([c for c, _ in rows]) if rows else _NO_COLS
    data = np.concatenate([v for _, v in rows]) if rows else _NO_VALUES
    return sparse.csr_matrix((data, indices, indptr), shape=(len(rows), width))


@dataclass(frozen=True)
class TaskPrediction:
    label: str
    probabilities: dict[str, float]
    terms: list[str]


@dataclass
class _Features:
    main: sparse.csr_matrix  # the linear model's view (the plain model: its only block)
    plain: sparse.csr_matrix | None  # domain model only: the baseline's char_wb view
    neighbours: sparse.csr_matrix | None  # L2-normalised char block, for neighbour votes
    knowledge: np.ndarray | None
    matches: list[CatalogMatch | None]
    # Similarities to training texts, computed once per call and shared by all tasks.
    similarities: dict[int, np.ndarray] = field(default_factory=dict)

    def rows(self, index: np.ndarray) -> _Features:
        return _Features(
            self.main[index],
            None if self.plain is None else self.plain[index],
            None if self.neighbours is None else self.neighbours[index],
            None if self.knowledge is None else self.knowledge[index],
            [self.matches[i] for i in index],
        )


class _Featurizer:
    """Unsupervised text -> features step; fitted once and shared by all tasks.

    Fitting uses scikit-learn's TfidfVectorizer with our own analyzers; serving uses only
    the fitted vocabularies and idf arrays, which avoids the per-call validation overhead
    of scikit-learn (it dominated single-text latency).
    """

    def __init__(self, *, domain: bool, knowledge: Knowledge | None) -> None:
        self.domain = domain
        self.knowledge = knowledge if domain else None
        self.main_blocks: list[_Block] = []
        self.plain_block: _Block | None = None
        self.neighbour_block: int | None = None  # index into main_blocks
        self._names: list[str] | None = None
        self._usable: np.ndarray | None = None

    def __getstate__(self) -> dict[str, object]:
        state = dict(self.__dict__)
        state["_names"] = state["_usable"] = None  # derived; rebuilt on first use
        return state

    def fit(self, texts: Sequence[str]) -> _Featurizer:
        """``texts`` are normalised. Vocabularies are bounded: n-grams seen in a single
        text of a large corpus are dropped (they cannot generalise and bloat the model)."""
        min_df = 2 if len(texts) >= 200 else 1
        specs: list[tuple[str, Callable[[str], list[str]], bool, int, int | None]]
        if self.domain:
            specs = [
                ("char", CharNgrams(1, 3), False, min_df, 50_000),
                ("head", CharNgrams(1, 3, head=True), False, min_df, 30_000),
                ("word", WordNgrams(), False, min_df, 30_000),
                ("vocab", VocabularyAnalyzer(), True, 1, None),
                ("plain", CharNgrams(1, 3, word_bounded=True), False, min_df, 50_000),
            ]
        else:
            specs = [("plain", CharNgrams(1, 3, word_bounded=True), False, 1, None)]
        blocks: list[_Block] = []
        for name, analyzer, binary, block_min_df, max_features in specs:
            vectorizer = TfidfVectorizer(
                analyzer=analyzer,
                min_df=block_min_df,
                max_features=max_features,
                sublinear_tf=True,
                binary=binary,
                use_idf=not binary,
                dtype=np.float32,
            )
            try:
                vectorizer.fit(texts)
            except ValueError:
                # A block with no tokens at all (e.g. no English words in a Chinese
                # corpus) is simply left out.
                continue
            idf = None if binary else np.asarray(vectorizer.idf_, dtype=np.float32)
            vocabulary = {str(k): int(v) for k, v in vectorizer.vocabulary_.items()}
            blocks.append(_Block(name, analyzer, vocabulary, idf, binary))
        if self.domain:
            self.main_blocks = [b for b in blocks if b.name != "plain"]
            self.plain_block = next((b for b in blocks if b.name == "plain"), None)
            if not self.main_blocks and self.plain_block is not None:
                self.main_blocks, self.plain_block = [self.plain_block], None
        else:
            self.main_blocks = blocks
            self.plain_block = None
        self.neighbour_block = 0 if self.domain and self.main_blocks else None
        self._names = self._usable = None
        return self

    @property
    def main_width(self) -> int:
        return sum(len(b.vocabulary) for b in self.main_blocks)

    def term_names(self) -> tuple[list[str], np.ndarray]:
        """Names of the main-view columns and which of them may be shown as terms."""
        if self._names is None or self._usable is None:
            names: list[str] = []
            for block in self.main_blocks:
                inverse = [""] * len(block.vocabulary)
                for token, j in block.vocabulary.items():
                    inverse[j] = token.strip()
                names.extend(inverse)
            # Single characters and whitespace/punctuation fragments explain nothing to
            # a reviewer; they still count as features, they are just never shown.
            self._usable = np.array(
                [len(n) >= 2 and any(ch.isalnum() for ch in n) for n in names], dtype=bool
            )
            self._names = names
        return self._names, self._usable

    def transform(self, texts: Sequence[str]) -> _Features:
        norm = [normalise(t) for t in texts]
        main_rows: list[tuple[np.ndarray, np.ndarray]] = []
        plain_rows: list[tuple[np.ndarray, np.ndarray]] = []
        neighbour_rows: list[tuple[np.ndarray, np.ndarray]] = []
        for text in norm:
            cols: list[np.ndarray] = []
            values: list[np.ndarray] = []
            offset = 0
            for b, block in enumerate(self.main_blocks):
                c, v = block.row(text)
                if b == self.neighbour_block:
                    neighbour_rows.append((c, v))
                cols.append(c + offset if offset else c)
                values.append(v)
                offset += len(block.vocabulary)
            main_rows.append((np.concatenate(cols), np.concatenate(values)))
            if self.plain_block is not None:
                plain_rows.append(self.plain_block.row(text))
        main = _csr(main_rows, self.main_width)
        plain = (
            None
            if self.plain_block is None
            else _csr(plain_rows, len(self.plain_block.vocabulary))
        )
        neighbours = (
            None
            if self.neighbour_block is None
            else _csr(neighbour_rows, len(self.main_blocks[self.neighbour_block].vocabulary))
        )
        knowledge: np.ndarray | None = None
        matches: list[CatalogMatch | None] = [None] * len(texts)
        if self.knowledge is not None:
            knowledge, matches = self.knowledge.features_with_matches(list(texts))
        return _Features(main, plain, neighbours, knowledge, matches)


@dataclass
class _Linear:
    """A fitted linear scorer as plain arrays: scores = x @ weights + bias, one column
    per class of the task (classes absent from the training part score -1)."""

    weights: np.ndarray  # (n_features, n_classes) float32, C order
    bias: np.ndarray  # (n_classes,) float32

    def scores(self, x: sparse.csr_matrix) -> np.ndarray:
        return np.asarray(x @ self.weights, dtype=np.float64) + self.bias


def _fit_linear(
    model: LinearSVC, x: sparse.csr_matrix, y: Sequence[str], classes: list[str]
) -> _Linear:
    model.fit(x, list(y))
    return _linear_from(model, classes)


def _linear_from(model: LinearSVC, classes: list[str]) -> _Linear:
    fitted = [str(c) for c in model.classes_]
    coef = np.asarray(model.coef_)
    bias = np.asarray(model.intercept_, dtype=np.float64).ravel()
    if coef.shape[0] == 1:
        # Binary models keep one weight row, pointing towards the second class.
        coef = np.vstack([-coef[0], coef[0]])
        bias = np.array([-bias[0], bias[0]])
    weights = np.zeros((coef.shape[1], len(classes)), dtype=np.float32)
    out_bias = np.full(len(classes), -1.0, dtype=np.float32)
    for j, c in enumerate(fitted):
        k = classes.index(c)
        weights[:, k] = coef[j]
        out_bias[k] = bias[j]
    return _Linear(np.ascontiguousarray(weights), out_bias)


@dataclass
class _Softmax:
    """A fitted (multinomial or binary) logistic regression as plain arrays."""

    coef: np.ndarray  # (n_fitted or 1, n_inputs)
    intercept: np.ndarray
    columns: np.ndarray  # task class index of each fitted class

    @classmethod
    def from_model(cls, model: LogisticRegression, classes: list[str]) -> _Softmax:
        return cls(
            np.asarray(model.coef_, dtype=np.float64),
            np.asarray(model.intercept_, dtype=np.float64),
            np.array([classes.index(str(c)) for c in model.classes_], dtype=int),
        )

    def proba(self, z: np.ndarray, n_classes: int) -> np.ndarray:
        logits = z @ self.coef.T + self.intercept
        if self.coef.shape[0] == 1:
            positive = 1.0 / (1.0 + np.exp(-logits[:, 0]))
            fitted = np.column_stack([1.0 - positive, positive])
        else:
            fitted = _softmax(logits)
        out = np.zeros((z.shape[0], n_classes))
        out[:, self.columns] = fitted
        return out


@dataclass
class _LabelRanker:
    """A conditional-logit stacker: one weight vector shared by every label, applied to
    per-(text, label) evidence and softmaxed over the labels. Shared weights let catalog
    evidence decide labels that have few or no training examples (a per-label stacker
    can only learn to trust the catalog for labels it has seen often)."""

    weights: np.ndarray  # (n_features,)
    bias: float

    def proba(self, evidence: np.ndarray) -> np.ndarray:
        return _softmax(evidence @ self.weights + self.bias)


def _softmax(logits: np.ndarray) -> np.ndarray:
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def _neighbour_votes(sim: np.ndarray, labels: np.ndarray, n_classes: int, k: int) -> np.ndarray:
    """Similarity-weighted label votes of the ``k`` nearest training texts, plus the best
    similarity: near-duplicates of known products should simply inherit their label."""
    n, m = sim.shape
    out = np.zeros((n, n_classes + 1))
    if m == 0 or n == 0:
        return out
    k = min(k, m)
    top = np.argpartition(-sim, k - 1, axis=1)[:, :k]
    weight = np.take_along_axis(sim, top, axis=1).astype(np.float64) ** 2
    votes = np.zeros((n, n_classes))
    np.add.at(votes, (np.repeat(np.arange(n), k), labels[top].ravel()), weight.ravel())
    total = votes.sum(axis=1, keepdims=True)
    out[:, :n_classes] = votes / np.where(total > 0, total, 1.0)
    out[:, n_classes] = sim.max(axis=1)
    return out


def _similarity(a: sparse.csr_matrix, b_t: sparse.csr_matrix) -> np.ndarray:
    return np.asarray((a @ b_t).toarray(), dtype=np.float32)


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
        self.svm_c = 1.0
        self.class_weight: str | None = "balanced"
        self.meta_c = 1.0
        self.meta_class_weight: str | None = None
        self.use_neighbours = True
        self.min_stack_rows = 50
        self._featurizer: _Featurizer | None = None
        self._classes: list[str] = []
        self._svm: _Linear | None = None
        self._second: _Linear | None = None
        self._plain: CalibratedClassifierCV | None = None
        self._meta: _Softmax | None = None
        self._ranker: _LabelRanker | None = None
        # Neighbour store: the (possibly shared) transposed char block of the featurizer's
        # training texts, which of its columns belong to this task, and their labels.
        self._train_neighbours_t: sparse.csr_matrix | None = None
        self._neighbour_rows: np.ndarray | None = None
        self._train_codes: np.ndarray = np.zeros(0, dtype=int)

    @property
    def classes_(self) -> list[str]:
        return list(self._classes)

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> TextClassifier:
        if len(texts) != len(labels):
            raise ValueError("texts and labels differ in length")
        if not texts:
            raise ValueError("no training texts")
        # The small dense solves of the stacker are slower with several BLAS threads
        # (thread start-up and contention dominate, many times over on a busy machine).
        with threadpool_limits(limits=1):
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
        *,
        shared: tuple[sparse.csr_matrix, np.ndarray, np.ndarray] | None = None,
    ) -> None:
        """``shared``: (transposed neighbour block of all featurizer texts, full
        text-by-text similarity, the rows of this task) when several tasks share them."""
        self._featurizer = featurizer
        y = [str(label) for label in labels]
        self._classes = self._label_space(sorted(set(y)), feats.knowledge)
        codes = np.array([self._classes.index(label) for label in y])
        self._svm = self._second = self._meta = None
        self._plain = None
        self._ranker = None
        self._train_codes = codes
        if len(self._classes) < 2:
            return
        if not self.domain:
            if np.bincount(codes).min() >= 3:
                # Sigmoid calibration on 3 internal folds turns SVM margins into
                # probabilities at a fraction of the cost of a high-C logistic regression.
                self._plain = CalibratedClassifierCV(
                    LinearSVC(C=0.5, random_state=self.random_state),
                    method="sigmoid",
                    cv=3,
                    ensemble=False,
                ).fit(feats.main, y)
                self._svm = _linear_from(
                    self._plain.calibrated_classifiers_[0].estimator, self._classes
                )
            else:
                self._svm = _fit_linear(self._new_second(), feats.main, y, self._classes)
            return
        self._svm = _fit_linear(self._new_svm(), feats.main, y, self._classes)
        if feats.plain is not None:
            self._second = _fit_linear(self._new_second(), feats.plain, y, self._classes)
        if feats.neighbours is None:
            return
        if shared is not None:
            self._train_neighbours_t, full_sim, rows = shared
            self._neighbour_rows = None if len(rows) == full_sim.shape[0] else rows
            train_sim = full_sim if self._neighbour_rows is None else full_sim[np.ix_(rows, rows)]
        else:
            # Stored transposed in CSR form: transposing per call is slow.
            self._train_neighbours_t = feats.neighbours.T.tocsr()
            self._neighbour_rows = None
            train_sim = _similarity(feats.neighbours, self._train_neighbours_t)
        # The stacker must learn from scores on texts the SVM did not see; folds keep
        # texts with the same head (product name) together, like the evaluation does.
        # With a handful of texts the held-out texts are mostly the only examples of
        # their label, so a stacker would learn "the SVM is always wrong"; below this
        # size the SVM margins alone decide.
        if len(y) < self.min_stack_rows:
            return
        folds = self._inner_folds(self._stack_groups(texts, feats), codes)
        if not folds:
            return
        stacked: np.ndarray | None = None
        covered = np.zeros(len(y), dtype=bool)
        for train_idx, held_idx in folds:
            part_y = [y[i] for i in train_idx]
            svm = _fit_linear(self._new_svm(), feats.main[train_idx], part_y, self._classes)
            second = (
                _fit_linear(self._new_second(), feats.plain[train_idx], part_y, self._classes)
                if feats.plain is not None
                else None
            )
            held = feats.rows(held_idx)
            block = self._stack(
                svm.scores(held.main),
                None if second is None or held.plain is None else second.scores(held.plain),
                train_sim[np.ix_(held_idx, train_idx)],
                codes[train_idx],
                held.knowledge,
            )
            if stacked is None:
                stacked = np.zeros((len(y), block.shape[1]))
            stacked[held_idx] = block
            covered[held_idx] = True
        assert stacked is not None
        # Rows outside every usable fold have no honest scores; leave them out.
        rows = np.flatnonzero(covered)
        if feats.knowledge is not None and self._uses_ranker(feats.knowledge):
            evidence = self._label_evidence(stacked[rows], feats.knowledge[rows])
            n, c, f = evidence.shape
            target = (codes[rows][:, None] == np.arange(c)[None, :]).ravel()
            ranker = LogisticRegression(C=self.meta_c, max_iter=3000).fit(
                evidence.reshape(n * c, f), target
            )
            self._ranker = _LabelRanker(
                np.asarray(ranker.coef_[0], dtype=np.float64), float(ranker.intercept_[0])
            )
            return
        meta = LogisticRegression(
            C=self.meta_c, max_iter=3000, class_weight=self.meta_class_weight
        ).fit(stacked[rows], [y[i] for i in rows])
        self._meta = _Softmax.from_model(meta, self._classes)

    def _label_space(self, seen: list[str], knowledge: np.ndarray | None) -> list[str]:
        """The labels the model may answer. Normally the training labels; when they are
        catalog panels (or classes) and catalog evidence is available, every catalog
        panel (class) too: a product code's panel may have no training example at all,
        and the label ranker can still pick it from catalog evidence alone."""
        if self.knowledge is None or knowledge is None or not self.domain or len(seen) < 2:
            return seen
        for space in (self.knowledge.panels, self.knowledge.classes):
            if set(seen) <= set(space):
                return sorted(space)
        return seen

    def _uses_ranker(self, knowledge: np.ndarray | None) -> bool:
        """The label ranker is used when catalog evidence speaks to this task's labels
        (device classes or review panels)."""
        if knowledge is None or self.knowledge is None:
            return False
        mapped = self.knowledge.label_evidence(knowledge[:1] * 0 + 1, self._classes)
        return int(mapped.any(axis=(0, 2)).sum()) >= 2

    def _label_evidence(self, stacked: np.ndarray, knowledge: np.ndarray) -> np.ndarray:
        """Per-(text, label) features from a stacker input row: the label's SVM margins,
        its neighbour vote (and vote x best similarity) and its catalog evidence."""
        assert self.knowledge is not None
        c = len(self._classes)
        n_scores = 2 if self._second is not None else 1
        parts = [stacked[:, j * c : (j + 1) * c, None] for j in range(n_scores)]
        offset = n_scores * c
        votes = stacked[:, offset : offset + c]
        best = stacked[:, offset + c : offset + c + 1]
        parts += [votes[:, :, None], (votes * best)[:, :, None]]
        parts.append(self.knowledge.label_evidence(knowledge, self._classes))
        # No per-label prior: a label that is rare in training (its product codes were
        # held out) would get a large negative bias that outvotes clear catalog evidence.
        return np.concatenate(parts, axis=2)

    @staticmethod
    def _stack_groups(texts: Sequence[str], feats: _Features) -> list[str]:
        """Groups for the stacker's inner folds, mimicking how unseen products differ
        from training ones: NMPA texts by product name (the head segment). With catalog
        knowledge, texts that share a head or a nearest catalog entry (a proxy of the
        product code, the unit the evaluation and the held-out data are split by) are
        linked into one group: otherwise texts of one product code sit on both sides of
        the inner split and the stacker learns to over-trust the SVM and neighbour
        votes."""
        groups = [head_segment(normalise(t)) for t in texts]
        if all(m is None for m in feats.matches):
            return groups
        # Texts sharing a head or a nearest catalog entry end up in one group.
        parent = list(range(len(groups)))

        def find(i: int) -> int:
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        first: dict[str, int] = {}
        for i, (g, m) in enumerate(zip(groups, feats.matches, strict=True)):
            for key in (f"head:{g}", f"catalog:{m.entry.product_code}" if m else ""):
                if not key:
                    continue
                if key in first:
                    parent[find(i)] = find(first[key])
                else:
                    first[key] = i
        return [str(find(i)) for i in range(len(groups))]

    def _new_second(self) -> LinearSVC:
        return LinearSVC(C=0.5, random_state=self.random_state)

    def _new_svm(self) -> LinearSVC:
        return LinearSVC(
            C=self.svm_c, class_weight=self.class_weight, random_state=self.random_state
        )

    def _inner_folds(
        self, groups: list[str], codes: np.ndarray
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        unique = sorted(set(groups))
        n_splits = min(self.inner_folds, len(unique))
        if n_splits < 2:
            return []
        order = np.random.default_rng(self.random_state).permutation(len(unique))
        fold_of = {unique[j]: i % n_splits for i, j in enumerate(order)}
        fold = np.array([fold_of[g] for g in groups])
        folds = [(np.flatnonzero(fold != f), np.flatnonzero(fold == f)) for f in range(n_splits)]
        # A fold whose training part has a single label cannot train an SVM.
        return [(a, b) for a, b in folds if len(set(codes[a].tolist())) >= 2]

    def _stack(
        self,
        main_scores: np.ndarray,
        second_scores: np.ndarray | None,
        sim: np.ndarray,
        train_codes: np.ndarray,
        knowledge: np.ndarray | None,
    ) -> np.ndarray:
        """Stacker input: SVM margins, nearest-neighbour votes and catalog evidence."""
        parts = [main_scores]
        if second_scores is not None:
            parts.append(second_scores)
        if self.use_neighbours:
            parts.append(_neighbour_votes(sim, train_codes, len(self._classes), self.n_neighbours))
        if knowledge is not None:
            parts.append(knowledge)
        return np.hstack(parts)

    def predict(self, texts: Sequence[str]) -> list[TaskPrediction]:
        if self._featurizer is None:
            raise RuntimeError("classifier is not fitted")
        return self._predict_features(self._featurizer.transform(texts), list(texts))

    def _neighbour_similarity(self, feats: _Features) -> np.ndarray:
        assert self._train_neighbours_t is not None and feats.neighbours is not None
        key = id(self._train_neighbours_t)
        sim = feats.similarities.get(key)
        if sim is None:
            sim = _similarity(feats.neighbours, self._train_neighbours_t)
            feats.similarities[key] = sim
        return sim if self._neighbour_rows is None else sim[:, self._neighbour_rows]

    def _probabilities(self, feats: _Features) -> np.ndarray:
        n = feats.main.shape[0]
        if len(self._classes) < 2:
            return np.ones((n, 1))
        if self._plain is not None:
            proba = self._plain.predict_proba(feats.main)
            out = np.zeros((n, len(self._classes)))
            for j, c in enumerate(self._plain.classes_):
                out[:, self._classes.index(str(c))] = proba[:, j]
            return out
        assert self._svm is not None
        main_scores = self._svm.scores(feats.main)
        if (self._meta is None and self._ranker is None) or self._train_neighbours_t is None:
            # Too little data to stack: softmax of the SVM margins is the best we have.
            return _softmax(main_scores)
        second_scores = (
            None
            if self._second is None or feats.plain is None
            else self._second.scores(feats.plain)
        )
        stacked = self._stack(
            main_scores,
            second_scores,
            self._neighbour_similarity(feats),
            self._train_codes,
            feats.knowledge,
        )
        if self._ranker is not None and feats.knowledge is not None:
            return self._ranker.proba(self._label_evidence(stacked, feats.knowledge))
        assert self._meta is not None
        return self._meta.proba(stacked, len(self._classes))

    def _predict_features(self, feats: _Features, texts: list[str]) -> list[TaskPrediction]:
        proba = self._probabilities(feats)
        total = proba.sum(axis=1, keepdims=True)
        proba = proba / np.where(total > 0, total, 1.0)
        best = proba.argmax(axis=1)
        results: list[TaskPrediction] = []
        for i, text in enumerate(texts):
            label_index = int(best[i])
            results.append(
                TaskPrediction(
                    label=self._classes[label_index],
                    probabilities=dict(zip(self._classes, proba[i].tolist(), strict=True)),
                    terms=self._terms(feats, i, label_index, text),
                )
            )
        return results

    def _terms(self, feats: _Features, row: int, label_index: int, text: str) -> list[str]:
        """Input terms with the largest positive contribution to the chosen label."""
        assert self._featurizer is not None
        terms: list[str] = []
        match = feats.matches[row]
        if match is not None and match.similarity >= 0.2:
            terms.append(match.describe())
        haystack = normalise(text)
        if self._svm is not None:
            start, end = feats.main.indptr[row], feats.main.indptr[row + 1]
            cols = feats.main.indices[start:end]
            contrib = feats.main.data[start:end] * self._svm.weights[cols, label_index]
            names, usable = self._featurizer.term_names()
            for j in np.argsort(-contrib, kind="stable"):
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
    """The served model: one ``TextClassifier`` head per task over shared text features.

    Text features, nearest-neighbour similarities and catalog retrieval are computed once
    per ``predict`` call and shared by all tasks.
    """

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
        for task in self._tasks:
            if len(labels[task]) != len(texts):
                raise ValueError(f"task {task}: labels differ in length from texts")
        with threadpool_limits(limits=1):  # see TextClassifier.fit
            self._fit(texts, labels)
        return self

    def _fit(self, texts: Sequence[str], labels: Mapping[str, Sequence[str | None]]) -> None:
        featurizer = _Featurizer(domain=self.domain, knowledge=self.knowledge)
        featurizer.fit([normalise(t) for t in texts])
        feats = featurizer.transform(texts)
        neighbours_t: sparse.csr_matrix | None = None
        full_sim: np.ndarray | None = None
        if feats.neighbours is not None:
            neighbours_t = feats.neighbours.T.tocsr()
            full_sim = _similarity(feats.neighbours, neighbours_t)
        models: dict[str, TextClassifier] = {}
        for task in self._tasks:
            task_labels = labels[task]
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
                shared=None
                if neighbours_t is None or full_sim is None
                else (neighbours_t, full_sim, keep),
            )
            models[task] = model
        self._featurizer = featurizer
        self._models = models

    def predict(
        self, texts: Sequence[str], tasks: Sequence[str] | None = None
    ) -> list[dict[str, TaskPrediction]]:
        if self._featurizer is None:
            raise RuntimeError("classifier is not fitted")
        wanted = self._tasks if tasks is None else tuple(tasks)
        models = [(task, self._model(task)) for task in wanted]
        text_list = list(texts)
        feats = self._featurizer.transform(text_list)
        out: list[dict[str, TaskPrediction]] = [{} for _ in text_list]
        for task, model in models:
            for i, prediction in enumerate(model._predict_features(feats, text_list)):
                out[i][task] = prediction
        return out
