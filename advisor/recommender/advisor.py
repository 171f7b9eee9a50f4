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
capability (catalog) times the retention at that quant (published or measured where known,
else predicted). Scores within ``TIE_POINTS`` (0.1 of 100) of the best are a tie, which goes
to the smaller footprint.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from advisor.data.catalog import Catalog, load_catalog
from advisor.data.dataset import Dataset, load_dataset
from advisor.data.downloads import RepoTable, load_repos
from advisor.data.hardware import load_hardware, resolve_hardware
from advisor.data.weights_table import WeightsRow, read_weights_table
from advisor.recommender.candidates import CandidateTable, PredictorSet, build_table
from advisor.recommender.explain import explain, unranked_note
from advisor.recommender.figures import RowFigures
from advisor.recommender.footprint import MemoryAnswer, memory_answer
from advisor.recommender.front import diverse_alternatives, pareto_front
from advisor.recommender.launch import attach_launch
from advisor.recommender.memory import context_limit, per_device_bytes
from advisor.recommender.offload import offload_note, plan_offload, with_placement
from advisor.recommender.query import (
    CACHE_TYPES,
    MAX_CONTEXT,
    MIN_CONTEXT,
    MODES,
    THINKING_CONTEXT,
    Query,
)
from advisor.recommender.results import (
    Candidate,
    FrontPoint,
    Recommendation,
)
from advisor.vocabulary.errors import InvalidInputError, NothingFitsError
from advisor.vocabulary.schema import Hardware
from advisor.vocabulary.settings import Settings, get_settings
from advisor.vocabulary.tasks import parse_task_mix
from advisor.vocabulary.units import format_bytes, parse_memory

log = logging.getLogger(__name__)

#: Quality scores (0-100) closer than this are a tie, broken by the smaller memory footprint
#: (so Q8_0 wins over BF16 when both keep the full-precision quality).
TIE_POINTS = 0.1


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
        requested = None
        if device is not None and device.memory_gb is not None:
            on_device = int(device.memory_gb * 1e9) * (device.n_devices or 1)
            if budget > on_device:  # more than the hardware has: its memory is the limit
                requested, budget = budget, on_device
        return Query(budget, str(vram), mix, context, cache, device, min_tokens_per_s, family,
                     names, n_alt, requested, mode=mode,
                     thinking_context=context if given else THINKING_CONTEXT,
                     context_given=given, ram_bytes=ram_bytes,
                     ram_bandwidth_gbs=ram_bandwidth_gbs)

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

    def rank(self, query: Query) -> Recommendation:
        cols = self.table.arrays
        models = cols["model"]
        memory = self.memory_arrays(query)
        score, low, high, cap_total = self.weighted_quality(query)
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
        total = memory["total_bytes"]
        on_devices = query.device_fits(total)
        fits = eligible & on_devices & (total <= query.budget_bytes)
        if not eligible.any():
            raise NothingFitsError("no catalog model matches the filters (family, models, "
                                   "task categories with scores)", smallest_budget_bytes=None)
        if not (eligible & on_devices).any():
            i = int(np.flatnonzero(eligible)[np.argmin(total[eligible])])
            # only reached on hardware of known memory (Query.device_fits)
            n, hw = query.n_devices, query.hardware
            name, gb = (hw.name, hw.memory_gb) if hw is not None else ("", None)
            need = format_bytes(per_device_bytes(int(total[i]), n))
            what = f"the smallest candidate, {models[i]} at {cols['quant'][i]}, needs {need}"
            raise NothingFitsError(
                f"nothing fits {n} devices of {gb:g} GB ({name}) at context {query.context}: "
                f"with the layers split over them, {what} on each" if n > 1 else
                f"nothing fits the {gb:g} GB of {name} at context {query.context}: {what}",
                smallest_budget_bytes=None)
        if query.requested_bytes is not None and query.hardware is not None:
            count = f"{query.n_devices} x " if query.n_devices > 1 else ""
            notes.append(
                f"vram {query.budget_text} is more than the {count}"
                f"{query.hardware.memory_gb:g} GB of {query.hardware.name}: the answer is held "
                f"to {format_bytes(query.budget_bytes)} on the device"
                + ("" if query.ram_bytes else " (give ram to consider offloading to the CPU)"))
        plan = None
        if query.ram_bytes and speed is not None and query.n_devices == 1:
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
        # Scores closer than TIE_POINTS are the same answer: take the smallest of those.
        near = fits & (score >= score[ranked[0]] - TIE_POINTS)
        pick = int(np.flatnonzero(near)[np.argmin(total[near])])
        alternatives = diverse_alternatives(ranked[ranked != pick], self._model_codes, pick,
                                query.n_alternatives)
        front = np.asarray(pareto_front(np.flatnonzero(eligible), score, total), dtype=np.intp)

        def build(i: int) -> Candidate:
            c = self._figures.candidate(i, query, memory, speed, score, low, high, cap_total,
                                        fits)
            return c if plan is None or not plan.placed[i] else with_placement(c, plan, i)

        pick_c = attach_launch(build(pick), self.catalog.get(self._models[pick]),
                               query.hardware, self.repos)
        alt_c = [build(i) for i in alternatives]
        modes = self.table.arrays["mode"]
        # built without re-validation: every field comes from the validated table
        front_p = [FrontPoint.model_construct(
                       model=self._models[i], mode=str(modes[i]), quant=self._quants[i],
                              params_b=self._params_b[i], bpw=self._bpw[i], total_bytes=t,
                              quality_score=q, fits=f)
                   for i, t, q, f in zip(front.tolist(), total[front].astype(np.int64).tolist(),
                                         score[front].astype(float).tolist(),
                                         fits[front].tolist(), strict=True)]
        return Recommendation(
            request=query.echo(), pick=pick_c, alternatives=alt_c, pareto_front=front_p,
            explanation=explain(pick_c, alt_c, front_p, query.budget_bytes, query.mix,
                                TIE_POINTS),
            notes=notes, predictor_version=self.predictor_version,
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

    def weighted_quality(self, query: Query) -> tuple[np.ndarray, ...]:
        """(score, low, high, capability) per candidate: sums of task weight x capability x
        retention (and its 90% bounds; published values count as their own bounds)."""
        cols = self.table.arrays
        n = len(cols["model"])
        score, low, high, cap_total = (np.zeros(n) for _ in range(4))
        for category, weight in query.mix.items():
            c = category.value
            cap = cols[f"cap:{c}"].astype(float)
            ret = cols[f"ret:{c}"].astype(float)
            ret_low = np.where(np.isnan(cols[f"ret_low:{c}"].astype(float)), ret,
                               cols[f"ret_low:{c}"])
            ret_high = np.where(np.isnan(cols[f"ret_high:{c}"].astype(float)), ret,
                                cols[f"ret_high:{c}"])
            score += weight * cap * ret
            low += weight * cap * ret_low
            high += weight * cap * ret_high
            cap_total += weight * cap
        return score, low, high, cap_total


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
