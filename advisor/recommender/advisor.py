"""The recommendation engine: memory budget + task mix (+ hardware) -> model and quant.

Plain functions and one class, no web or CLI imports. Python API for deployment scripts::

    from advisor.recommender.advisor import Advisor

    advisor = Advisor.load()                       # catalog, predictors, data: once
    rec = advisor.recommend(vram="24GB", task="reasoning:0.7,coding:0.3",
                            hardware="NVIDIA GeForce RTX 3090")
    print(rec.pick.model, rec.pick.quant, rec.pick.memory.total_bytes)

Ranking: among candidates whose estimated memory (weights + KV cache + compute buffers +
runtime overhead) fits the budget (and the device's memory when the hardware is known; on
several GPUs each GPU's share must fit one GPU: :meth:`Query.fits`), the highest
task-weighted quality wins, where a category's quality is the model's full-precision
capability (the fitted capability table, per mode) times the retention at that quant
(published or measured where known, else predicted) times the KV cache type's cost. Near
ties (:meth:`Advisor.near_ties`: models within ``MODEL_TIE_POINTS``, 0.5 of 100, of the best
and each at its quants within ``QUANT_TIE_POINTS``, 0.1, of its own best) go to the faster
candidate (:meth:`Advisor.slowness`), then the smaller footprint.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from advisor.data.catalog import Catalog, load_catalog
from advisor.data.dataset import Dataset, load_dataset
from advisor.data.downloads import RepoTable, load_repos
from advisor.data.hardware import load_hardware, resolve_hardware
from advisor.data.weights_table import WeightsRow, read_weights_table
from advisor.recommender.candidates import CandidateTable, PredictorSet, build_table
from advisor.recommender.explain import explain, unranked_note
from advisor.recommender.figures import RowFigures, Scores, cache_note
from advisor.recommender.footprint import MemoryAnswer, memory_answer
from advisor.recommender.front import FrontCache, diverse_alternatives
from advisor.recommender.launch import attach_launch
from advisor.recommender.memory import context_limit, per_device_bytes
from advisor.recommender.offload import OffloadPlan, offload_note, plan_offload, with_placement
from advisor.recommender.query import (
    CACHE_TYPES,
    MAX_CONTEXT,
    MIN_CONTEXT,
    MODES,
    THINKING_CONTEXT,
    Query,
    device_capacity,
    unified_limit,
)
from advisor.recommender.results import (
    Candidate,
    Figure,
    FrontPoint,
    Recommendation,
)
from advisor.vocabulary.errors import InvalidInputError, NothingFitsError
from advisor.vocabulary.schema import Hardware, HardwareKind
from advisor.vocabulary.settings import Settings, get_settings
from advisor.vocabulary.tasks import parse_task_mix
from advisor.vocabulary.units import format_bytes, parse_memory

log = logging.getLogger(__name__)

#: Two quants of one model whose scores (0-100) are closer than this are a tie (so Q8_0 wins
#: over BF16 when both keep the full-precision quality).
QUANT_TIE_POINTS = 0.1
#: Models whose best fitting scores are closer than this are a tie: half a point is about one
#: question of the smallest anchor benchmark (GPQA Diamond: 198 questions, 0.51 points each).
MODEL_TIE_POINTS = 0.5
#: The most the pick can score below the best fitting candidate. Ties go to the faster
#: candidate (:meth:`Advisor.slowness`), then the smaller memory footprint.
TIE_POINTS = QUANT_TIE_POINTS + MODEL_TIE_POINTS


class Advisor:
    """Holds everything that does not change between requests."""

    def __init__(self, catalog: Catalog, predictors: PredictorSet, dataset: Dataset | None,
                 hardware_table: dict[str, Hardware], settings: Settings | None = None,
                 repos: RepoTable | None = None, *,
                 weights: dict[tuple[str, str], WeightsRow] | None = None) -> None:
        self.settings = settings or get_settings()
        self.repos = repos if repos is not None else load_repos(self.settings.catalog_path)
        self.catalog = catalog
        self.predictors = predictors
        self.hardware_table = hardware_table
        if weights is None:  # the files of the catalog the settings name
            weights = read_weights_table(self.settings.catalog_path)
        self.weights = weights
        self.table: CandidateTable = build_table(catalog, predictors, dataset, weights=weights)
        # Request-independent parts of the answer, as plain Python values (reading a list is
        # several times cheaper than a numpy scalar) and, per row, the figures that do not
        # depend on the request (filled on first use).
        cols = self.table.arrays
        self._models: list[str] = [str(m) for m in cols["model"]]
        names, self._model_codes = np.unique(np.asarray(self._models), return_inverse=True)
        self._model_names: list[str] = [str(n) for n in names]
        self._quants: list[str] = [str(q) for q in cols["quant"]]
        self._params_b: list[float] = [float(p) for p in cols["params_b"]]
        self._bpw: list[float] = [float(b) for b in cols["bpw"]]
        self._figures = RowFigures(self.table)
        # a (model, mode) pair per row, for near ties
        self._entity = self._model_codes * 2 + (cols["mode"] == "thinking")
        self._fronts: FrontCache[FrontPoint] = FrontCache()
        self._shapes: dict[tuple[object, ...], tuple[Any, ...]] = {}

    @classmethod
    def load(cls, settings: Settings | None = None) -> Advisor:
        """Load catalog, predictors (``models/``) and the measurements from settings."""
        from advisor.predictors.artifacts import load_predictors

        settings = settings or get_settings()
        catalog = load_catalog(settings.catalog_path, settings.added_models_path)
        predictors = load_predictors(settings.models_dir)
        dataset = load_dataset(settings.measurements_dir)
        hardware = load_hardware(settings.measurements_dir)
        return cls(catalog, predictors, dataset, hardware, settings)

    @property
    def predictor_version(self) -> str:
        return self.table.predictor_version

    # -- request validation ---------------------------------------------------------------
    def parse_query(self, *, vram: str | float, task: str = "reasoning",
                    context: int | None = None, cache_type: str = "f16",
                    hardware: str | None = None, hardware_kind: str | None = None,
                    bandwidth_gbs: float | None = None, fp16_tflops: float | None = None,
                    hardware_memory_gb: float | None = None, threads: int | None = None,
                    devices: int | None = None,
                    min_tokens_per_s: float | None = None, family: str | None = None,
                    models: list[str] | None = None,
                    alternatives: int | None = None, mode: str = "auto",
                    ram: str | float | None = None,
                    ram_bandwidth_gbs: float | None = None) -> Query:
        """Validate a request; errors are InvalidInputError or UnknownNameError naming the
        parameter.

        ``threads`` is the CPU threads llama.cpp runs with (1-1024; unknown when None, the
        speed predictor then assumes a default). It needs the hardware (a name or specs),
        overrides a named device's value, and only changes the speed of CPU devices.

        ``devices`` is the number of identical GPUs the model's layers are split over (1-16;
        None or 1 = one device), as is a count on the hardware name (``"RTX 3090 x2"``,
        ``"2x RTX 3090"``); see :func:`advisor.data.hardware.resolve_hardware`. ``vram`` is then the
        budget over all of them.
        """
        budget = parse_memory(vram, parameter="vram")
        mix = parse_task_mix(task, parameter="task")
        mode = (mode or "auto").strip().lower()
        if mode not in MODES:
            raise InvalidInputError(f"mode must be one of {', '.join(MODES)}, got {mode!r}",
                                    parameter="mode")
        ram_bytes = None if ram is None or ram == "" else parse_memory(ram, parameter="ram")
        if ram_bandwidth_gbs is not None and not (np.isfinite(ram_bandwidth_gbs)
                                                  and 0 < ram_bandwidth_gbs <= 10_000):
            raise InvalidInputError(f"ram_bandwidth_gbs must be a number of GB/s in (0, 10000], "
                                    f"got {ram_bandwidth_gbs!r}", parameter="ram_bandwidth_gbs")
        given = context is not None
        context = self.settings.default_context if context is None else int(context)
        if not MIN_CONTEXT <= context <= MAX_CONTEXT:
            raise InvalidInputError(
                f"context must be between {MIN_CONTEXT} and {MAX_CONTEXT} tokens, got {context}",
                parameter="context")
        cache = cache_type.strip().lower()
        if cache not in CACHE_TYPES:
            raise InvalidInputError(
                f"cache_type must be one of {', '.join(CACHE_TYPES)}, got {cache_type!r}",
                parameter="cache_type")
        device = resolve_hardware(hardware, kind=hardware_kind, bandwidth_gbs=bandwidth_gbs,
                                  fp16_tflops=fp16_tflops, memory_gb=hardware_memory_gb,
                                  threads=threads, devices=devices,
                                  table=self.hardware_table)
        if min_tokens_per_s is not None:
            if not np.isfinite(min_tokens_per_s) or min_tokens_per_s <= 0:
                raise InvalidInputError(
                    f"min_tokens_per_s must be a positive number, got {min_tokens_per_s}",
                    parameter="min_tokens_per_s")
            if device is None:
                raise InvalidInputError(
                    "min_tokens_per_s needs the hardware: give a hardware name from "
                    "/hardware or its specs (kind and bandwidth_gbs)",
                    parameter="min_tokens_per_s")
        if family is not None:
            self.catalog.filter(family=family)  # raises with the known families
        names: tuple[str, ...] | None = None
        if models:
            names = tuple(self.catalog.get(m).name for m in models)
        n_alt = self.settings.max_alternatives if alternatives is None else int(alternatives)
        if not 0 <= n_alt <= 100:
            raise InvalidInputError(f"alternatives must be 0-100, got {n_alt}",
                                    parameter="alternatives")
        requested, limit = None, unified_limit(device, budget)
        capacity = device_capacity(device, limit)
        if device is not None and capacity is not None:
            on_device = capacity * (device.n_devices or 1)
            if budget > on_device:  # more than the hardware gives: its memory is the limit
                requested, budget = budget, on_device
        return Query(budget, str(vram), mix, context, cache, device, min_tokens_per_s, family,
                     names, n_alt, requested, mode=mode,
                     thinking_context=context if given else THINKING_CONTEXT,
                     context_given=given, ram_bytes=ram_bytes,
                     ram_bandwidth_gbs=ram_bandwidth_gbs, gpu_limit=limit)

    def memory(self, *, model: str, quant: str, context: int | None = None,
               cache_type: str = "f16", hardware: str | None = None,
               hardware_kind: str | None = None, bandwidth_gbs: float | None = None,
               fp16_tflops: float | None = None, hardware_memory_gb: float | None = None,
               devices: int | None = None) -> MemoryAnswer:
        """The itemised footprint of ``model`` at ``quant`` (see
        :func:`advisor.recommender.footprint.memory_answer`); the hardware as for
        :meth:`parse_query`."""
        context = self.settings.default_context if context is None else int(context)
        if not MIN_CONTEXT <= context <= MAX_CONTEXT:
            raise InvalidInputError(
                f"context must be between {MIN_CONTEXT} and {MAX_CONTEXT} tokens, got {context}",
                parameter="context")
        device = resolve_hardware(hardware, kind=hardware_kind, bandwidth_gbs=bandwidth_gbs,
                                  fp16_tflops=fp16_tflops, memory_gb=hardware_memory_gb,
                                  devices=devices, table=self.hardware_table)
        return memory_answer(self.catalog, self.weights, model=model, quant=quant,
                             context=context, cache_type=cache_type, hardware=device)

    # -- ranking ---------------------------------------------------------------------------
    def recommend(self, **kwargs: object) -> Recommendation:
        """Validate the inputs (see :meth:`parse_query`) and rank the candidates."""
        return self.rank(self.parse_query(**kwargs))  # type: ignore[arg-type]

    def _shape(self, query: Query) -> tuple[Any, ...]:
        """What the answer to ``query`` takes from all but its budget: memory, scores, the KV
        cache's cost, notes, the rankable rows and speeds; kept per :meth:`Query.shape`, as
        many requests differ only in their budget. Raises when no candidate can answer."""
        key = query.shape()
        found = self._shapes.get(key)
        if found is not None:
            return found
        models = self.table.arrays["model"]
        memory = self.memory_arrays(query)
        scores = self.weighted_quality(query)
        score, kv_cost = scores.score, self.cache_cost(query.cache_type)
        notes: list[str] = []
        missing = [self._model_names[c]
                   for c in np.unique(self._model_codes[~np.isfinite(score)]).tolist()]
        if missing:
            notes.append(unranked_note(missing))
        short = ~memory["context_ok"].astype(bool)
        if short.any():
            too_short = sorted({self._models[i] for i in np.flatnonzero(short)})
            limits = ", ".join(f"{m} {_k(context_limit(self.catalog.get(m)))}"
                               for m in too_short[:6])
            more = ", ..." if len(too_short) > 6 else ""
            asked = (f"{query.context} tokens asked for" if query.context_given else
                     f"{query.thinking_context} tokens a thinking answer needs")
            notes.append(
                f"{len(too_short)} model{'s' if len(too_short) != 1 else ''} left out"
                f"{'' if query.context_given else ' in thinking mode'}: "
                f"{'their' if len(too_short) != 1 else 'its'} longest context is below the "
                f"{asked} ({limits}{more})")
        eligible = self.rankable(query, score, memory)
        if short.any() and not eligible.any():
            chosen = (np.isin(models, list(query.models)) if query.models is not None
                      else np.ones(len(models), dtype=bool))
            longest = max((context_limit(self.catalog.get(m)) or 0)
                          for m in np.unique(models[chosen]))
            raise InvalidInputError(
                f"context of {query.context} tokens is longer than any candidate model serves; "
                f"allowed: {MIN_CONTEXT}-{longest}", parameter="context")
        speed = None
        if query.hardware is not None:
            speed = self.table.speed_arrays(query.hardware)
        if query.min_tokens_per_s is not None and speed is not None:
            fast = speed["tps:tg128"] >= query.min_tokens_per_s
            if eligible.any() and not (eligible & fast).any():
                best = float(np.nanmax(np.where(eligible, speed["tps:tg128"], np.nan)))
                raise NothingFitsError(
                    f"no candidate reaches {query.min_tokens_per_s:g} generated tokens/s on "
                    f"{query.hardware.name} (fastest: {best:.1f} tokens/s)",  # type: ignore[union-attr]
                    smallest_budget_bytes=None)
            eligible &= fast
        eligible.setflags(write=False)
        found = (memory, scores, kv_cost, tuple(notes), eligible, speed)
        if len(self._shapes) >= 4096:
            self._shapes.clear()
        self._shapes[key] = found
        return found

    def rank(self, query: Query) -> Recommendation:
        cols = self.table.arrays
        models = cols["model"]
        memory, scores, kv_cost, shape_notes, eligible, speed = self._shape(query)
        score = scores.score
        notes = list(shape_notes)
        total = memory["total_bytes"]
        on_devices = query.device_fits(total)
        fits = eligible & on_devices & (total <= query.budget_bytes)
        if not eligible.any():
            raise NothingFitsError("no catalog model matches the filters (family, models, "
                                   "task categories with scores)", smallest_budget_bytes=None)
        if not (eligible & on_devices).any():
            i = int(np.flatnonzero(eligible)[np.argmin(total[eligible])])
            # only reached on hardware of known memory (Query.device_fits)
            n, name = query.n_devices, query.hardware.name if query.hardware else ""
            has = format_bytes(query.device_bytes or 0) + (
                " its GPU may use by default" if query.gpu_limit is not None else "")
            need = format_bytes(per_device_bytes(int(total[i]), n))
            what = f"the smallest candidate, {models[i]} at {cols['quant'][i]}, needs {need}"
            raise NothingFitsError(
                f"nothing fits {n} devices of {has} ({name}) at context {query.context}: "
                f"with the layers split over them, {what} on each" if n > 1 else
                f"nothing fits the {has} of {name} at context {query.context}: {what}",
                smallest_budget_bytes=None)
        held = query.held_note()
        if held is not None:
            notes.append(held)
        plan = None
        if query.ram_bytes and query.hardware is not None and query.hardware.unified:
            notes.append("ram is not used on unified memory: the GPU and the CPU share it, so "
                         "the budget already covers both")
        elif query.ram_bytes and query.hardware is not None \
                and query.hardware.kind is HardwareKind.CPU:
            notes.append("ram is not used on a CPU: the model already runs from RAM, and vram "
                         "is the RAM it may use")
        elif query.ram_bytes and speed is not None and query.n_devices == 1:
            plan = plan_offload(cols, memory, speed["tps:tg128"], query, eligible & ~fits)
            fits = fits | plan.placed
            total = np.where(plan.placed, plan.gpu_bytes + plan.cpu_bytes, total)
            notes.append(offload_note(plan, query))
        elif query.ram_bytes:
            notes.append("ram is used only with a single known device: offloaded placements "
                         "need its speed (give hardware)")
        if not fits.any():
            eligible = eligible & on_devices
            smallest = int(total[eligible].min())
            i = int(np.flatnonzero(eligible)[np.argmin(total[eligible])])
            raise NothingFitsError(
                f"nothing fits {format_bytes(query.budget_bytes)} at context {query.context}: "
                f"the smallest candidate, {models[i]} at {cols['quant'][i]}, "
                f"needs {format_bytes(smallest)}; give vram of at least "
                f"{np.ceil(smallest / 1e8) / 10:.1f}GB", smallest_budget_bytes=smallest)
        order = np.lexsort((total, -np.where(fits, score, -np.inf)))
        ranked = order[fits[order]]
        near = self.near_ties(fits, score)
        pick = int(near[np.lexsort((total[near], self.slowness(near, speed, plan)))][0])
        alternatives = diverse_alternatives(ranked[ranked != pick], self._model_codes, pick,
                                query.n_alternatives)
        # steps smaller than a tie are not worth sending: the ranking treats them as equal;
        # an offloaded placement's total depends on the budget, so that front is not kept
        key = query.shape() if plan is None else None
        front = self._fronts.get(key, np.flatnonzero(eligible), score, total, TIE_POINTS)

        def build(i: int) -> Candidate:
            c = self._figures.candidate(i, query, memory, speed, scores, fits)
            return c if plan is None or not plan.placed[i] else with_placement(c, plan, i)

        pick_c = attach_launch(build(pick), self.catalog.get(self._models[pick]),
                               query.hardware, self.repos)
        alt_c = [build(i) for i in alternatives]
        modes = self.table.arrays["mode"]

        def point(i: int, fit: bool) -> FrontPoint:
            # built without re-validation: every field comes from the validated table
            return FrontPoint.model_construct(
                model=self._models[i], mode=str(modes[i]), quant=self._quants[i],
                params_b=self._params_b[i], bpw=self._bpw[i], total_bytes=int(total[i]),
                quality_score=float(score[i]), fits=fit)

        front_p = self._fronts.points(key, front, fits, point)
        return Recommendation(
            request=query.echo(), pick=pick_c, alternatives=alt_c, pareto_front=front_p,
            explanation=explain(pick_c, alt_c, front_p, query.budget_bytes, query.mix,
                                TIE_POINTS, query.ram_bytes),
            notes=[*notes, *cache_note(query.cache_type, kv_cost)], kv_cache_quality=kv_cost,
            predictor_version=self.predictor_version,
            candidates_considered=int(eligible.sum()), candidates_fitting=int(fits.sum()))

    def rankable(self, query: Query, score: np.ndarray,
                 memory: dict[str, np.ndarray]) -> np.ndarray:
        """Which candidates the query ranks: a score for every requested category, a model
        that serves the requested context, and within the family / model filters."""
        models = self.table.arrays["model"]
        eligible = np.isfinite(score) & memory["context_ok"].astype(bool)
        if query.mode != "auto":
            eligible &= self.table.arrays["mode"] == query.mode
        if query.family is not None:
            allowed = [m.name for m in self.catalog.filter(family=query.family)]
            eligible &= np.isin(models, allowed)
        if query.models is not None:
            eligible &= np.isin(models, list(query.models))
        return eligible  # type: ignore[no-any-return]

    def memory_arrays(self, query: Query) -> dict[str, np.ndarray]:
        """Memory per candidate row, each at the context of its mode (the asked context, or
        the default of non-thinking and of thinking answers: :data:`THINKING_CONTEXT`)."""
        contexts = {"non-thinking": query.context_for("non-thinking"),
                    "thinking": query.context_for("thinking")}
        return self.table.memory_for(contexts, query.cache_type, query.runtime,
                                     query.n_devices)

    def near_ties(self, fits: np.ndarray, score: np.ndarray) -> np.ndarray:
        """Rows as good as the best fitting one: of each model (and mode) whose best fitting
        score is within :data:`MODEL_TIE_POINTS` of the best, its quants within
        :data:`QUANT_TIE_POINTS` of its own best."""
        entity = self._entity
        best = np.full(int(entity.max()) + 1, -np.inf)
        np.maximum.at(best, entity[fits], score[fits])
        own = best[entity]
        return np.flatnonzero(fits & (own >= best.max() - MODEL_TIE_POINTS)
                              & (score >= own - QUANT_TIE_POINTS))

    def slowness(self, rows: np.ndarray, speed: dict[str, np.ndarray] | None,
                 plan: OffloadPlan | None) -> np.ndarray:
        """How slowly ``rows`` generate, for breaking near-ties: minus the predicted tokens/s on
        the hardware (a placement's own speed where it runs split), else the bytes read per
        generated token (the weights, or a MoE's active share), which orders speed on any
        device the same way."""
        if speed is None:
            return self.table.arrays["active_bytes"][rows].astype(float)
        tg = speed["tps:tg128"][rows].astype(float)
        if plan is not None:
            tg = np.where(plan.placed[rows], plan.tg[rows], tg)
        return -np.nan_to_num(tg, nan=0.0)

    def weighted_quality(self, query: Query) -> Scores:
        """Per candidate: sums of task weight x capability x retention x the KV cache's cost
        (:meth:`cache_cost`), with 90% bounds (capability and retention at their bounds;
        published values count as their own bounds). See :class:`Scores`."""
        cols = self.table.arrays
        n = len(cols["model"])
        kv = self.cache_cost(query.cache_type)
        factor, kv_low, kv_high = (1.0, 1.0, 1.0) if kv is None else \
            (kv.value, kv.low or kv.value, kv.high or kv.value)
        score, low, high, cap_total, ret_low, ret_high = (np.zeros(n) for _ in range(6))

        def bound(name: str, default: np.ndarray) -> np.ndarray:
            x = cols[name].astype(float)
            return np.where(np.isnan(x), default, x)

        for category, weight in query.mix.items():
            c = category.value
            cap, ret = cols[f"cap:{c}"].astype(float), cols[f"ret:{c}"].astype(float)
            r_low = bound(f"ret_low:{c}", ret) * kv_low
            r_high = bound(f"ret_high:{c}", ret) * kv_high
            score += weight * cap * ret * factor
            low += weight * bound(f"cap_low:{c}", cap) * r_low
            high += weight * bound(f"cap_high:{c}", cap) * r_high
            ret_low += weight * cap * r_low
            ret_high += weight * cap * r_high
            cap_total += weight * cap
        return Scores(score, low, high, cap_total, ret_low, ret_high)

    def cache_cost(self, cache_type: str) -> Figure | None:
        """What KV cache ``cache_type`` costs retention (a factor, 1 = none; f16 is the
        reference), from the quality predictor's KV-cache term; None when it has no figure
        for that type (the cost is then taken as none and the answer says so)."""
        found = self.table.cache_quality.get(cache_type)
        if found is None:
            return None
        return Figure(value=found.value, low=found.low, high=found.high, unit="factor",
                      provenance="catalog" if found.provenance == "reference" else "predicted",
                      source=found.source)


def _k(tokens: int | None) -> str:
    """A context length in thousands of tokens (``131072`` -> ``128K``)."""
    return "?" if tokens is None else f"{tokens // 1024}K"


def recommend(vram: str | float, task: str = "reasoning", *, threads: int | None = None,
              devices: int | None = None, **kwargs: object) -> Recommendation:
    """One-call convenience for scripts: loads the default :class:`Advisor` once.

    Takes the arguments of :meth:`Advisor.parse_query`; ``threads`` (CPU threads llama.cpp
    runs with) needs ``hardware`` and only matters for CPU devices; ``devices`` (identical
    GPUs the layers are split over, 1-16) needs ``hardware`` too, and ``vram`` is then the
    budget over all of them.
    """
    return _default_advisor().recommend(vram=vram, task=task, threads=threads,
                                        devices=devices, **kwargs)


_DEFAULT: dict[Path, Advisor] = {}


def _default_advisor() -> Advisor:
    settings = get_settings()
    if settings.models_dir not in _DEFAULT:
        _DEFAULT[settings.models_dir] = Advisor.load(settings)
    return _DEFAULT[settings.models_dir]
