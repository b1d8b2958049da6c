"""Simplified FID: Fréchet distance between Gaussians fitted to sentence features.

Features come from a frozen extractor fitted on the **training split only** and saved as an
artifact (``models/fid/extractor.npz``), so every experiment measures with the same ruler:
TF-IDF over word n-grams (sklearn semantics: smoothed idf, raw counts, L2-normalised rows), then a
truncated SVD to a few dense dimensions.

Why these features -- they must see word order
-----------------------------------------------
A bag of words cannot tell a fluent sentence from the same words shuffled. We choose the features
by the *shuffle ratio* = FID(test half A, test half B with words shuffled within each sentence) /
FID(test half A, test half B) (:func:`shuffle_ratio`; random halves), extractor fitted on the
train split. Target: >= 5 on COCO and on the built-in grammar corpus. Measured with
``bench/fid_shuffle.py`` (TF-IDF + TruncatedSVD; COCO: 10k train, 10k test -> 5k halves,
lowercased nltk word tokens; builtin: 20k grammar sentences split 80/10/10 as ingest does ->
1k halves; "contig" = first vs second half of the file instead of random halves, which is how
the issue measured 3.8 / 6.5 / 11 on COCO -- COCO's file order carries topic, raising the floor)::

    features                    COCO ratio (contig)   builtin ratio (contig)   COCO fit+ratio
    unigrams, svd 64               1.0  ( 1.0)            1.0  ( 1.0)              1.3 s
    1-2-grams, svd 64              9.4  ( 3.9)            2.4  ( 2.1)              4.6 s
    1-3-grams, svd 64             16.3  ( 6.8)            3.5  ( 3.1)             12.2 s
    bigrams, svd 64               25.3  (11.4)            7.6  ( 6.1)              5.1 s
    bigrams + <s></s>, svd 64     33.4  (15.0)            8.3  ( 6.3)              4.8 s
    2-3-grams + <s></s>, svd 64   46.9  (20.2)            8.3  ( 7.1)             10.5 s
    bigrams + <s></s>, svd 16     72.5  (35.3)           17.7  (14.1)              1.8 s
    bigrams + <s></s>, svd 32     51.3  (20.4)           14.4  ( 8.4)              2.7 s   <- chosen
    bigrams + <s></s>, svd 128    21.5  ( 9.5)            5.0  ( 4.3)              6.9 s

(times on a shared 2-core machine, noisy; fit on 10k sentences plus the ratio's transforms).
Unigrams are blind to order by construction (exactly 1). Adding unigrams to bigrams dilutes the
order signal: the top SVD directions go to topic words, which shuffling leaves alone. Bigrams
put every feature on a word *pair*; the boundary markers add (<s>, first word) and (last word,
</s>), which shuffling also breaks (+30% on COCO, +10% on builtin).

Fewer SVD dimensions give a *lower floor* (FID between two real sets is covariance-estimation
noise, growing like dim^2 / n) and so a larger ratio at the sample sizes we evaluate (1k-10k).
32 rather than 16 keeps more of the distribution visible: on the builtin corpus, replacing
the rarest review mode (neutral, 10%) of half B by other modes raises FID over the floor by
x2.8 (svd 16), x3.1 (32), x2.7 (48), x2.4 (64). On COCO, test half vs half (5k vs 5k; now
``real.fid_halves``) is 0.00028 and FID(train, test) = 0.018: COCO's train and test files cover
different topics. A model trained on train faces that shift too, so the floor the evaluation
reports (``real.fid_floor``, :mod:`gantext.metrics.reference`) is FID(test, held-out real
sentences at the models' n), shift included, not the half-vs-half figure.

Numerics
--------
FID = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^1/2), where the trace is taken from the
eigenvalues of a *symmetric* PSD matrix similar to S1 S2 (Cholesky L^T S2 L, or S1^1/2 S2 S1^1/2
when S1 is singular): no complex arithmetic, several times faster than ``scipy.linalg.sqrtm`` and
equal to it to ~1e-13 (``bench/fid_shuffle.py`` prints both). Round-off can make a few eigenvalues
slightly negative: those are clipped to 0, with a warning when one is negative beyond round-off.
A singular covariance (e.g. a collapsed generator repeating one sentence) is handled exactly by
the PSD square root, without the usual eps * I offset (see :func:`frechet_distance`).

One ruler per corpus
--------------------
The extractor is fitted with a fixed SVD seed (:data:`EXTRACTOR_SEED`, independent of
``params.seed``) on the training split, so every model and every seed scored against a corpus
uses the same features. :func:`load_or_fit` loads ``models/fid/extractor.npz`` when its
*fingerprint* (sha256 of the training sentences, the ``evaluate.fid`` settings, the seed, the
format and the sklearn version) matches, else fits, saves and loads the file back: what is scored
is always the ruler on disk. The file's bytes are deterministic (zip entries carry a fixed
timestamp; ``np.savez`` would stamp the current time), so its md5 (:attr:`FeatureExtractor.md5`,
:func:`extractor_md5`; reported as ``fid_extractor.md5`` in metrics/evaluate.json) is the same for
every seed and run on the same corpus and settings.

The artifact holds plain arrays and a JSON string (loaded with ``allow_pickle=False``);
:meth:`FeatureExtractor.transform` is numpy/scipy.sparse, so loading never unpickles anything.
"""

from __future__ import annotations

import hashlib
import io
import json
import warnings
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from gantext.config import FIDConfig
from gantext.errors import CheckpointError, DataError
from gantext.io import atomic_path

__all__ = ["FeatureExtractor", "frechet_distance", "fid", "gaussian", "halves", "shuffle_ratio",
           "load_or_fit", "extractor_md5", "fingerprint", "BOS", "EOS", "EXTRACTOR_SEED"]

#: The SVD seed of every extractor fit: fixed, so the ruler depends on the corpus only.
EXTRACTOR_SEED = 0

#: Sentence-boundary markers added around each sentence when ``FIDConfig.boundary`` is true.
BOS, EOS = "<s>", "</s>"

_FORMAT = "gantext-fid-extractor/1"


def _ngrams(tokens: Sequence[str], ngram_min: int, ngram_max: int, boundary: bool) -> list[str]:
    """Space-joined word n-grams of one sentence, as sklearn's word analyzer builds them."""
    toks = [BOS, *tokens, EOS] if boundary else list(tokens)
    out: list[str] = []
    for n in range(ngram_min, ngram_max + 1):
        out.extend(" ".join(toks[i:i + n]) for i in range(len(toks) - n + 1))
    return out


def _docs(sents: Sequence[Sequence[str]], boundary: bool) -> list[str]:
    """Sentences as whitespace-joined documents for sklearn (token_pattern ``\\S+``)."""
    return [" ".join([BOS, *s, EOS] if boundary else s) for s in sents]


@dataclass(frozen=True)
class FeatureExtractor:
    """TF-IDF over word n-grams followed by a fixed linear projection (truncated SVD).

    ``transform(x) = l2_normalise(counts(x) * idf) @ components.T`` -- exactly sklearn's
    ``TruncatedSVD.transform(TfidfVectorizer.transform(x))`` for the fitted objects.
    """

    vocabulary: tuple[str, ...]      # n-gram of each column
    idf: np.ndarray                  # (V,) float64
    components: np.ndarray           # (d, V) float64
    ngram_min: int
    ngram_max: int
    boundary: bool
    fingerprint: str = ""            # what it was fitted on (see :func:`fingerprint`)

    @property
    def dim(self) -> int:
        return int(self.components.shape[0])

    @property
    def md5(self) -> str:
        """md5 of the file :meth:`save` writes (deterministic bytes): the ruler's identity."""
        return hashlib.md5(self.to_bytes()).hexdigest()

    # ------------------------------------------------------------------ fitting
    @classmethod
    def fit(cls, train: Sequence[Sequence[str]], cfg: FIDConfig,
            seed: int = EXTRACTOR_SEED) -> FeatureExtractor:
        """Fit TF-IDF + TruncatedSVD(``cfg.svd_dim``, random_state=seed) on training sentences."""
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer

        vec = TfidfVectorizer(analyzer="word", token_pattern=r"\S+", lowercase=False,
                              ngram_range=(cfg.ngram_min, cfg.ngram_max), dtype=np.float64)
        try:
            x = vec.fit_transform(_docs(train, cfg.boundary))
        except ValueError as exc:  # "empty vocabulary": no sentence has enough tokens
            raise DataError(
                f"FID extractor: the training split has no {cfg.ngram_min}..{cfg.ngram_max}-grams "
                f"({len(train)} sentences); lower evaluate.fid.ngram_min or check the data"
            ) from exc
        n_docs, n_feat = x.shape
        # TruncatedSVD needs fewer components than features; a tiny corpus gets fewer dimensions.
        dim = min(cfg.svd_dim, n_feat - 1, n_docs)
        if dim < 1:
            raise DataError(f"FID extractor: the training split yields only {n_feat} n-gram "
                            "feature(s); it needs at least 2")
        if dim < cfg.svd_dim:
            warnings.warn(f"FID extractor: training split too small for evaluate.fid.svd_dim="
                          f"{cfg.svd_dim}; using {dim} dimensions", stacklevel=2)
        svd = TruncatedSVD(n_components=dim, random_state=seed)
        svd.fit(x)
        vocab = [""] * n_feat
        for gram, col in vec.vocabulary_.items():
            vocab[col] = gram
        return cls(vocabulary=tuple(vocab), idf=np.asarray(vec.idf_, dtype=np.float64),
                   components=np.ascontiguousarray(svd.components_, dtype=np.float64),
                   ngram_min=cfg.ngram_min, ngram_max=cfg.ngram_max, boundary=cfg.boundary,
                   fingerprint=fingerprint(train, cfg, seed))

    # ------------------------------------------------------------------ transform
    def _index(self) -> dict[str, int]:
        idx = self.__dict__.get("_index_cache")
        if idx is None:
            idx = {g: i for i, g in enumerate(self.vocabulary)}
            object.__setattr__(self, "_index_cache", idx)  # frozen dataclass: cache by hand
        return idx

    def tfidf(self, sents: Sequence[Sequence[str]]) -> sp.csr_matrix:
        """(n, V) sparse TF-IDF rows, L2-normalised (n-grams unseen in training are ignored)."""
        index = self._index()
        indptr = [0]
        indices: list[int] = []
        for s in sents:
            indices.extend(c for c in map(index.get, _ngrams(s, self.ngram_min, self.ngram_max,
                                                              self.boundary)) if c is not None)
            indptr.append(len(indices))
        data = np.ones(len(indices), dtype=np.float64)
        x = sp.csr_matrix((data, np.asarray(indices, dtype=np.int64), np.asarray(indptr)),
                          shape=(len(indptr) - 1, len(self.vocabulary)))
        x.sum_duplicates()  # repeated n-grams -> counts
        x = x @ sp.diags(self.idf)
        norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
        norms[norms == 0.0] = 1.0  # a sentence with no known n-gram stays the zero vector
        return sp.csr_matrix(sp.diags(1.0 / norms) @ x)

    def transform(self, sents: Sequence[Sequence[str]]) -> np.ndarray:
        """(n, d) float64 features of token lists."""
        return np.asarray(self.tfidf(sents) @ self.components.T, dtype=np.float64)

    # ------------------------------------------------------------------ persistence
    def to_bytes(self) -> bytes:
        """The ``.npz`` file (plain arrays + JSON, no pickle) with fixed zip timestamps, so equal
        extractors give equal bytes (``np.savez`` stamps each entry with the current time)."""
        meta = {"format": _FORMAT, "ngram_min": self.ngram_min, "ngram_max": self.ngram_max,
                "boundary": self.boundary, "fingerprint": self.fingerprint}
        arrays = {"idf": self.idf, "components": self.components,
                  "vocabulary": np.array(json.dumps(list(self.vocabulary), ensure_ascii=False)),
                  "meta": np.array(json.dumps(meta))}
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
            for name, arr in arrays.items():
                entry = io.BytesIO()
                np.lib.format.write_array(entry, np.asanyarray(arr), allow_pickle=False)
                info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
                info.external_attr = 0o644 << 16
                zf.writestr(info, entry.getvalue())
        return buf.getvalue()

    def save(self, path: str | Path) -> None:
        """Write :meth:`to_bytes` atomically."""
        with atomic_path(path) as tmp:
            Path(tmp).write_bytes(self.to_bytes())

    @classmethod
    def load(cls, path: str | Path) -> FeatureExtractor:
        """Load an extractor written by :meth:`save` (``allow_pickle=False``)."""
        path = Path(path)
        if not path.is_file():
            raise CheckpointError(f"{path}: FID extractor not found (the evaluate stage fits it "
                                  "on the train split; run `dvc repro evaluate`)")
        try:
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
                vocab = json.loads(str(z["vocabulary"]))
                idf = np.asarray(z["idf"], dtype=np.float64)
                comp = np.asarray(z["components"], dtype=np.float64)
        except (OSError, KeyError, ValueError) as exc:
            raise CheckpointError(f"{path}: not a readable FID extractor ({exc}); delete it and "
                                  "rerun the evaluate stage") from exc
        if meta.get("format") != _FORMAT:
            raise CheckpointError(f"{path}: unknown FID extractor format {meta.get('format')!r} "
                                  f"(expected {_FORMAT!r}); rerun the evaluate stage")
        if not (idf.ndim == 1 and comp.ndim == 2 and comp.shape[1] == idf.shape[0] == len(vocab)):
            raise CheckpointError(f"{path}: inconsistent FID extractor arrays (idf {idf.shape}, "
                                  f"components {comp.shape}, {len(vocab)} n-grams); rerun the "
                                  "evaluate stage")
        return cls(vocabulary=tuple(vocab), idf=idf, components=comp,
                   ngram_min=int(meta["ngram_min"]), ngram_max=int(meta["ngram_max"]),
                   boundary=bool(meta["boundary"]), fingerprint=str(meta.get("fingerprint", "")))


def fingerprint(train: Sequence[Sequence[str]], cfg: FIDConfig, seed: int = EXTRACTOR_SEED) -> str:
    """sha256 of everything a fit depends on: the training sentences, the settings, the seed,
    the file format and the sklearn version (its SVD could change between releases)."""
    import sklearn

    h = hashlib.sha256()
    h.update(json.dumps({"format": _FORMAT, "sklearn": sklearn.__version__, "seed": int(seed),
                         "ngram_min": cfg.ngram_min, "ngram_max": cfg.ngram_max,
                         "svd_dim": cfg.svd_dim, "boundary": cfg.boundary},
                        sort_keys=True).encode())
    for s in train:
        h.update(b"\n" + "\x1f".join(s).encode("utf-8"))
    return h.hexdigest()


def extractor_md5(path: str | Path) -> str:
    """md5 of an extractor file (as DVC computes it for a file): the ruler's identity."""
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


def load_or_fit(path: str | Path, train: Sequence[Sequence[str]], cfg: FIDConfig,
                log: Callable[[str], None] | None = None) -> FeatureExtractor:
    """The corpus' extractor: loaded from `path` when it was fitted on these sentences with these
    settings (same :func:`fingerprint`), else fitted with :data:`EXTRACTOR_SEED`, saved to `path`
    and loaded back. Either way the returned object is the one read from disk."""
    path = Path(path)
    want = fingerprint(train, cfg)
    if path.is_file():
        try:
            if FeatureExtractor.load(path).fingerprint == want:
                if log is not None:
                    log(f"FID extractor: reusing {path} (same training split and settings)")
                return FeatureExtractor.load(path)
        except CheckpointError:
            pass  # unreadable or old format: refit below
    if log is not None:
        log(f"fitting the FID extractor on {len(train)} training sentences (seed "
            f"{EXTRACTOR_SEED})")
    FeatureExtractor.fit(train, cfg).save(path)
    return FeatureExtractor.load(path)


# ---------------------------------------------------------------------- Fréchet distance
def _sym(m: np.ndarray) -> np.ndarray:
    return (m + m.T) / 2.0  # np.cov is symmetric only up to round-off; eigh reads one triangle


def _psd_warn(what: str, lowest: float, largest: float, d: int) -> None:
    """Warn when an eigenvalue that should be >= 0 is negative beyond round-off."""
    if lowest < -1e-10 * d * max(largest, 1e-300):
        warnings.warn(f"frechet_distance: {what} has a negative eigenvalue {lowest:.3g} beyond "
                      f"round-off (largest {largest:.3g}); clipped to 0 -- is the input a "
                      "covariance matrix?", RuntimeWarning, stacklevel=3)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray,
                     sigma2: np.ndarray) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2) (squared 2-Wasserstein).

    d^2 = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^1/2), where the last trace is the sum
    of square roots of the eigenvalues of the *symmetric* PSD matrix L^T S2 L (S1 = L L^T,
    Cholesky; similar to S1 S2, so same eigenvalues). If S1 is singular (Cholesky fails, e.g. a
    collapsed sample set repeating one sentence), L is replaced by the PSD square root of S1 from
    its eigendecomposition, eigenvalues clipped at 0 -- exact for singular covariances, so no
    eps * I offset (which shifts d^2 by ~2 sqrt(eps) tr(S^1/2)) is needed. Eigenvalues negative
    beyond round-off (a non-PSD input) are clipped with a RuntimeWarning, the analogue of
    sqrtm's imaginary residue.
    """
    mu1 = np.atleast_1d(np.asarray(mu1, np.float64))
    mu2 = np.atleast_1d(np.asarray(mu2, np.float64))
    s1 = _sym(np.atleast_2d(np.asarray(sigma1, np.float64)))
    s2 = _sym(np.atleast_2d(np.asarray(sigma2, np.float64)))
    d = mu1.size
    if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != (d, d):
        raise ValueError(f"shape mismatch: mu {mu1.shape} vs {mu2.shape}, "
                         f"sigma {s1.shape} vs {s2.shape}")
    for name, x in (("mu1", mu1), ("mu2", mu2), ("sigma1", s1), ("sigma2", s2)):
        if not np.isfinite(x).all():
            raise ValueError(f"frechet_distance: {name} has NaN or inf entries")
    try:
        root = np.linalg.cholesky(s1)                     # S1 = L L^T
        m = root.T @ s2 @ root
    except np.linalg.LinAlgError:                         # S1 singular (or not PSD)
        w1, v1 = np.linalg.eigh(s1)
        _psd_warn("sigma1", float(w1.min()), float(np.abs(w1).max()), d)
        root = (v1 * np.sqrt(np.clip(w1, 0.0, None))) @ v1.T  # S1^1/2
        m = root @ s2 @ root
    wm = np.linalg.eigvalsh(_sym(m))
    _psd_warn("S1^1/2 S2 S1^1/2", float(wm.min()), float(np.abs(wm).max()), d)
    tr_covmean = float(np.sqrt(np.clip(wm, 0.0, None)).sum())
    diff = mu1 - mu2
    mean_term, tr1, tr2 = float(diff @ diff), float(np.trace(s1)), float(np.trace(s2))
    d2 = mean_term + tr1 + tr2 - 2.0 * tr_covmean
    if d2 < 0.0:  # cancellation when the Gaussians (nearly) coincide
        if d2 < -1e-10 * d * (mean_term + tr1 + tr2):
            warnings.warn(f"frechet_distance: negative distance {d2:.3g} beyond round-off; "
                          "returning 0", RuntimeWarning, stacklevel=2)
        d2 = 0.0
    return d2


def gaussian(feats: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    """(mean, covariance) of feature rows; a clear error below 2 rows."""
    if feats.shape[0] < 2:
        raise DataError(f"FID: {what} has {feats.shape[0]} sentence(s); need at least 2 to "
                        "estimate a covariance")
    return feats.mean(axis=0), np.cov(feats, rowvar=False)


def fid(extractor: FeatureExtractor, real: Sequence[Sequence[str]],
        fake: Sequence[Sequence[str]]) -> float:
    """Simplified FID between token-list sentences `real` and `fake` (lower = closer)."""
    mu_r, s_r = gaussian(extractor.transform(real), "the real set")
    mu_f, s_f = gaussian(extractor.transform(fake), "the generated set")
    return frechet_distance(mu_r, s_r, mu_f, s_f)


def halves(sents: Sequence[Sequence[str]], seed: int) -> tuple[list[list[str]], list[list[str]]]:
    """Two disjoint random halves of `sents` (seeded): FID between them is the floor of the
    metric at this sample size (real vs real); an odd last sentence is dropped."""
    order = np.random.default_rng(seed).permutation(len(sents))
    half = len(sents) // 2
    return ([list(sents[i]) for i in order[:half]], [list(sents[i]) for i in order[half:2 * half]])


def shuffle_ratio(extractor: FeatureExtractor, test: Sequence[Sequence[str]], seed: int) -> float:
    """FID(A, B with words shuffled within each sentence) / FID(A, B) on the two halves of `test`
    from :func:`halves`: how much the features react to word order (1.0 = blind to it)."""
    a, b = halves(test, seed)
    rng = np.random.default_rng([seed, 1])  # independent of the split's stream
    b_shuffled = [[s[i] for i in rng.permutation(len(s))] for s in b]
    fa = extractor.transform(a)
    mu_a, s_a = gaussian(fa, "test half A")
    mu_b, s_b = gaussian(extractor.transform(b), "test half B")
    mu_x, s_x = gaussian(extractor.transform(b_shuffled), "shuffled test half B")
    floor = frechet_distance(mu_a, s_a, mu_b, s_b)
    if floor <= 0.0:
        raise DataError("shuffle ratio: FID between the two test halves is 0 (identical halves?)")
    return frechet_distance(mu_a, s_a, mu_x, s_x) / floor
