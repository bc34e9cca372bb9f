"""Context segments for exporting a fitted click model as :class:`envs.params.ClickParams`.

The environments draw a shopper's context from a small set of segments: string contexts (OBD's user features)
become their observed combinations, the rarest merged into ``<other>``; numeric contexts are clustered with
k-means. Per segment: the mean fitted relevance over the training rows in it (over a seeded sample of at most
20,000 of them in a long log), and the segment's share among the training rows of each part of the day.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from scipy import sparse

from envs.models import click_features as cf

KMEANS_SAMPLE = 4000


def segment_codes(spec: cf.ContextSpec, table: pd.DataFrame, n_segments: int,
                  seed: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Segment per row ``(n,)``, features per segment ``(S, F)`` and segment labels.

    :param spec: the model's context specification.
    :param table: the training rows.
    :param n_segments: at most this many segments.
    :param seed: seed of the k-means.
    """
    cats = list(spec.categorical)
    if cats and not spec.numeric:
        key = table[cats].astype(str).agg("|".join, axis=1)
        counts = key.value_counts()
        keep = counts.index[: n_segments - 1 if counts.size > n_segments else counts.size].tolist()
        labels = keep + (["<other>"] if counts.size > len(keep) else [])
        codes = pd.Categorical(key.where(key.isin(keep), "<other>"), categories=labels).codes.astype(np.int64)
        onehot = cf.context_matrix(cf.ContextSpec(spec.n_actions, spec.categorical, {}, None, False), table)
        feats = np.zeros((len(labels), onehot.shape[1]))
        np.add.at(feats, codes, onehot.toarray())
        feats /= np.maximum(np.bincount(codes, minlength=len(labels)), 1)[:, None]
        return codes, feats, labels
    if spec.numeric or cats:
        from sklearn.cluster import KMeans

        x = cf.context_matrix(spec, table).toarray()
        rng = np.random.default_rng(seed)
        sample = x[rng.permutation(len(x))[:KMEANS_SAMPLE]]
        k = min(n_segments, len(np.unique(sample, axis=0)))
        km = KMeans(n_clusters=k, n_init=1, max_iter=100, random_state=seed).fit(sample)
        return km.predict(x).astype(np.int64), km.cluster_centers_, [f"cluster{i}" for i in range(k)]
    return np.zeros(len(table), np.int64), np.ones((1, 1)), ["all"]


def rows_per_segment(codes: np.ndarray, n_segments: int, cap: int | None, seed: int) -> np.ndarray:
    """Sorted row indices: every row of a segment with at most ``cap`` rows, else ``cap`` of its rows drawn
    without replacement (seeded); every row when ``cap`` is ``None``."""
    counts = np.bincount(codes, minlength=n_segments)
    if cap is None or counts.max() <= cap:
        return np.arange(codes.size)
    order = np.lexsort((np.random.default_rng(seed).random(codes.size), codes))     # by segment, then at random
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.arange(codes.size) - starts[codes[order]]
    return np.sort(order[rank < cap])


def export_segments(spec: cf.ContextSpec, table: pd.DataFrame, relevance_rows: Callable[[np.ndarray], np.ndarray],
                    n_segments: int, n_day_parts: int, seed: int, max_rows_per_segment: int | None = 20_000,
                    chunk_rows: int = 65_536) -> dict:
    """Segments of the training rows: ``labels``, ``relevance`` ``(S, A)``, ``features`` and ``context_probs``
    ``(n_day_parts, S)``.

    :param relevance_rows: ``relevance_rows(idx)`` is the fitted relevance of every item at training rows ``idx``,
        ``(len(idx), A)``; asked for ``chunk_rows`` rows at a time, so memory stays ``O(chunk_rows * A)``.
    :param max_rows_per_segment: a segment's mean relevance is taken over at most this many of its rows (a seeded
        sample; ``None``: all). Its share of the day parts always counts every row.
    """
    codes, feats, labels = segment_codes(spec, table, n_segments, seed)
    s = len(labels)
    sample = rows_per_segment(codes, s, max_rows_per_segment, seed)
    chunks = (sample[lo:lo + chunk_rows] for lo in range(0, sample.size, chunk_rows))
    rel = sum(sparse.csr_matrix((np.ones(idx.size), (codes[idx], np.arange(idx.size))), shape=(s, idx.size))
              @ relevance_rows(idx) for idx in chunks)
    rel /= np.maximum(np.bincount(codes[sample], minlength=s), 1.0)[:, None]
    counts = np.bincount(codes, minlength=s).astype(float)
    ts = table["timestamp"]
    seconds = (ts.dt.hour * 3600 + ts.dt.minute * 60 + ts.dt.second).to_numpy()
    part = np.minimum(seconds * n_day_parts // 86400, n_day_parts - 1).astype(np.int64)
    probs = np.zeros((n_day_parts, s))
    np.add.at(probs, (part, codes), 1.0)
    empty = probs.sum(axis=1) == 0
    probs[empty] = counts / counts.sum()
    return {"labels": labels, "relevance": rel, "features": feats,
            "context_probs": probs / probs.sum(axis=1, keepdims=True)}
