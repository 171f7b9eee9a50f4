"""Quality against the reference: perplexity, KL divergence, top-1 agreement, task accuracy.

Like ``llama-perplexity --kl-divergence``: the text is cut into chunks of ``chunk_tokens``; each
chunk is decoded from an empty cache and only its second half is scored (every scored token has
at least half a chunk of context). The reference run stores, per scored position, the negative
log-likelihood of the true next token and its ``top_k`` most likely tokens with log-probs
(``reference.npz``); each quant is compared with that file.

KL divergence uses the reference's top-k plus one "rest" bucket:
``sum_topk p (log p - log q) + p_rest log(p_rest / q_rest)``. That is the exact KL of the two
distributions with the tail merged, a lower bound of the full-vocabulary KL, and equal to it
when the top-k hold all of the reference's mass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import numpy as np

from advisor.measure.llama_backend import LlamaSession
from advisor.measure.task_suites import TaskItem

TOP_K = 64
_TINY = 1e-12


def eval_text() -> str:
    """The shipped evaluation text (see ``data/README.md``)."""
    return files("advisor.measure").joinpath("data/eval_text.txt").read_text(encoding="utf-8")


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    z = logits.astype(np.float64) - logits.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def chunk_tokens(session: LlamaSession, text: str, chunk: int, n_chunks: int
                 ) -> list[list[int]]:
    """Up to ``n_chunks`` chunks of ``chunk`` tokens; the first token of each is BOS when the
    model adds one (as llama-perplexity does)."""
    tokens = session.tokenize(text, add_bos=False)
    out = []
    for i in range(min(n_chunks, len(tokens) // chunk)):
        piece = tokens[i * chunk:(i + 1) * chunk]
        if session.add_bos():
            piece[0] = session.bos()
        out.append(piece)
    return out


def _score_chunk(session: LlamaSession, piece: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Log-probs (n_scored, n_vocab) for predicting piece[first+1:], and those targets."""
    session.clear()
    first = len(piece) // 2
    logits = session.decode(piece, 0, out_from=first)
    assert logits is not None  # out_from < len(piece) always yields rows
    return _log_softmax(logits[:-1]), np.asarray(piece[first + 1:], dtype=np.int64)


def reference_pass(session: LlamaSession, chunks: list[list[int]], path: Path,
                   top_k: int = TOP_K) -> dict[str, float]:
    """Score ``chunks`` with the reference model and save what quants are compared with."""
    nll, idx, logp = [], [], []
    for piece in chunks:
        lp, targets = _score_chunk(session, piece)
        nll.append(-lp[np.arange(len(targets)), targets])
        top = np.argpartition(-lp, top_k, axis=-1)[:, :top_k]
        top_lp = np.take_along_axis(lp, top, axis=-1)
        order = np.argsort(-top_lp, axis=-1)
        idx.append(np.take_along_axis(top, order, axis=-1).astype(np.int32))
        logp.append(np.take_along_axis(top_lp, order, axis=-1).astype(np.float32))
    arrays = {"nll": np.concatenate(nll), "top_idx": np.concatenate(idx),
              "top_logp": np.concatenate(logp),
              "tokens": np.asarray(chunks, dtype=np.int32)}
    tmp = path.with_name(path.name + ".partial.npz")
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(tmp, **arrays)  # type: ignore[arg-type]
    tmp.replace(path)
    return perplexity_stats(arrays["nll"])


def perplexity_stats(nll: np.ndarray) -> dict[str, float]:
    mean = float(nll.mean())
    ppl = math.exp(mean)
    return {"ppl": ppl, "ppl_stderr": ppl * float(nll.std(ddof=1)) / math.sqrt(len(nll)),
            "n_tokens": float(len(nll))}


@dataclass(frozen=True)
class Divergence:
    """Per-token comparison of a quant with the reference over the same scored positions."""

    ppl: float
    ppl_stderr: float
    ln_ppl_ratio: float
    ln_ppl_ratio_stderr: float
    kld_mean: float
    kld_stderr: float
    kld_median: float
    kld_p99: float
    top1_agreement: float
    top1_stderr: float
    n_tokens: int


def compare_pass(session: LlamaSession, reference: Path) -> Divergence:
    """Score the reference's chunks with ``session`` and compare token by token."""
    ref = np.load(reference)
    nll_parts, kld_parts, agree_parts = [], [], []
    pos = 0
    for piece in ref["tokens"].tolist():
        lp, targets = _score_chunk(session, piece)
        n = len(targets)
        r_idx, r_lp = ref["top_idx"][pos:pos + n], ref["top_logp"][pos:pos + n].astype(np.float64)
        pos += n
        nll_parts.append(-lp[np.arange(n), targets])
        q_lp = np.take_along_axis(lp, r_idx.astype(np.int64), axis=-1)
        p = np.exp(r_lp)
        p_rest = np.clip(1.0 - p.sum(axis=-1), _TINY, None)
        q_rest = np.clip(1.0 - np.exp(q_lp).sum(axis=-1), _TINY, None)
        kld = (p * (r_lp - q_lp)).sum(axis=-1) + p_rest * np.log(p_rest / q_rest)
        kld_parts.append(np.clip(kld, 0.0, None))
        agree_parts.append(lp.argmax(axis=-1) == r_idx[:, 0])
    nll = np.concatenate(nll_parts)
    kld = np.concatenate(kld_parts)
    agree = np.concatenate(agree_parts).astype(np.float64)
    diff = nll - ref["nll"]
    n = len(nll)
    stats = perplexity_stats(nll)
    return Divergence(
        ppl=stats["ppl"], ppl_stderr=stats["ppl_stderr"],
        ln_ppl_ratio=float(diff.mean()), ln_ppl_ratio_stderr=float(diff.std(ddof=1) / n ** .5),
        kld_mean=float(kld.mean()), kld_stderr=float(kld.std(ddof=1) / n ** .5),
        kld_median=float(np.median(kld)), kld_p99=float(np.percentile(kld, 99)),
        top1_agreement=float(agree.mean()),
        top1_stderr=float(math.sqrt(agree.mean() * (1 - agree.mean()) / max(n - 1, 1))),
        n_tokens=n)


def choose_answers(session: LlamaSession, items: list[TaskItem]) -> list[int]:
    """Index of the highest log-likelihood choice for each item (sum over its tokens)."""
    picks = []
    for item in items:
        session.clear()
        ctx = session.tokenize(item.prompt, add_bos=True)
        last = session.decode(ctx, 0)
        assert last is not None
        prompt_lp = _log_softmax(last)[0]
        scores = []
        for choice in item.choices:
            whole = session.tokenize(item.prompt + choice, add_bos=True)
            cont = (whole[len(ctx):] if whole[:len(ctx)] == ctx
                    else session.tokenize(choice, add_bos=False))
            if not session.truncate(len(ctx)):  # a recurrent state: decode the prompt again
                session.clear()
                session.decode(ctx, 0)
            score = float(prompt_lp[cont[0]])
            if len(cont) > 1:
                lp = _log_softmax(session.decode(cont[:-1], len(ctx), out_from=0))  # type: ignore[arg-type]
                score += float(lp[np.arange(len(cont) - 1), cont[1:]].sum())
            scores.append(score)
        picks.append(int(np.argmax(scores)))
    return picks
