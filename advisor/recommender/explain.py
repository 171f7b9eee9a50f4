"""A short explanation, in words, of why the pick won."""

from __future__ import annotations

from advisor.recommender.results import Candidate, FrontPoint
from advisor.vocabulary.tasks import TaskCategory, format_task_mix
from advisor.vocabulary.units import format_bytes


def explain(pick: Candidate, alternatives: list[Candidate], front: list[FrontPoint],
            budget_bytes: int, mix: dict[TaskCategory, float], tie_points: float = 0.1,
            ram_bytes: int | None = None) -> str:
    """Two to four sentences: the pick, its cost, what it keeps, and the nearest trade-offs
    (``ram_bytes``: the system RAM a split pick may use, whose remainder it names)."""
    task = mix_words(mix)
    ret = pick.retention
    kept = f"{ret.value:.1%}"
    if ret.low is not None and ret.high is not None and ret.high > ret.low:
        kept += f" (90% interval {ret.low:.1%}-{min(ret.high, 1.0):.1%})"
    parts = [
        f"{pick.model} at {pick.quant} ({pick.bpw.value:.2f} bits/weight) is the best "
        f"predicted {task} choice that fits {format_bytes(budget_bytes)} (near-ties go to the "
        f"faster, then the smaller file): it needs "
        f"{format_bytes(pick.memory.total_bytes)} at {pick.memory.context} tokens of context "
        f"and keeps {kept} of the full-precision model's {task} quality."
    ]
    if pick.placement is not None:
        pl = pick.placement
        how = (f"the routed experts of {pl.n_cpu_moe} MoE layers in system RAM"
               if pl.kind == "experts_on_cpu" else
               f"{pl.n_gpu_layers} layers on the GPU and the rest in system RAM")
        left = ("" if not ram_bytes else
                f", leaving {format_bytes(max(ram_bytes - pl.cpu_bytes, 0))} of the "
                f"{format_bytes(ram_bytes)} of RAM to the system and other programs")
        parts.append(f"It runs split, with {how}: {format_bytes(pl.gpu_bytes)} on the GPU, "
                     f"{format_bytes(pl.cpu_bytes)} of RAM ({' '.join(pl.flags)}){left}.")
    if "tg128" in pick.speed:
        tg = pick.speed["tg128"]
        parts.append(f"Expected generation speed: about {tg.value:.0f} tokens/s "
                     f"({tg.provenance}).")
    better = [p for p in front if not p.fits
              and p.quality_score > pick.quality_score.value + tie_points]
    if better:
        nxt = better[0]
        parts.append(
            f"The next step up that does not fit, {nxt.model} at {nxt.quant}, would score "
            f"{nxt.quality_score - pick.quality_score.value:.1f} points higher but needs "
            f"{format_bytes(nxt.total_bytes)}.")
    if pick.memory.total_bytes < budget_bytes / 2:
        bigger = [a for a in alternatives if a.memory.total_bytes > pick.memory.total_bytes]
        parts.append(
            f"It uses {pick.memory.total_bytes / budget_bytes:.0%} of the budget because no "
            "candidate that needs more is predicted to score higher"
            + (f" (the best of those, {bigger[0].model} at {bigger[0].quant}, scores "
               f"{bigger[0].quality_score.value:.1f} in "
               f"{format_bytes(bigger[0].memory.total_bytes)})" if bigger else "") + ".")
    if alternatives:
        alt = alternatives[0]
        parts.append(
            f"Runner-up within budget: {alt.model} at {alt.quant} "
            f"({alt.quality_score.value:.1f} vs {pick.quality_score.value:.1f}, "
            f"{format_bytes(alt.memory.total_bytes)}).")
        faster = faster_alternative(pick, alternatives)
        if faster is not None:
            fast_tg, pick_tg = faster.speed["tg128"].value, pick.speed["tg128"].value
            parts.append(
                f"For speed: {faster.model} at {faster.quant} generates about {fast_tg:.0f} "
                f"tokens/s, {fast_tg / pick_tg:.1f}x the pick, and scores "
                f"{faster.quality_score.value:.1f}.")
    return " ".join(parts)


#: How many times the pick's generation speed an alternative must reach to be named for speed.
FASTER_FACTOR = 2.0


def faster_alternative(pick: Candidate, alternatives: list[Candidate]) -> Candidate | None:
    """The best-scoring alternative generating at least :data:`FASTER_FACTOR` times the pick's
    tokens/s (None when speeds are unknown or none is that much faster): a slow pick, such as
    a dense model where a mixture of experts scores a little less, says what speed costs."""
    if "tg128" not in pick.speed or not pick.speed["tg128"].value > 0:
        return None
    floor = FASTER_FACTOR * pick.speed["tg128"].value
    quick = [a for a in alternatives if "tg128" in a.speed and a.speed["tg128"].value >= floor]
    return max(quick, key=lambda a: a.quality_score.value, default=None)


def mix_words(mix: dict[TaskCategory, float]) -> str:
    if len(mix) == 1:
        return next(iter(mix)).value.replace("_", " ")
    return "task-mix (" + format_task_mix(mix) + ")"


def unranked_note(missing: list[str], shown: int = 10) -> str:
    """The note naming the models left unranked for want of a full-precision score.

    >>> unranked_note(["a"])
    '1 model has no full-precision score for a requested task category and was not ranked: a'
    """
    many = len(missing) > 1
    named = ", ".join(missing[:shown]) + (f" and {len(missing) - shown} more"
                                          if len(missing) > shown else "")
    return (f"{len(missing)} model{'s' if many else ''} {'have' if many else 'has'} no "
            "full-precision score for a requested task category and "
            f"{'were' if many else 'was'} not ranked: {named}")
