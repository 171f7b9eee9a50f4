"""Held-out evaluation of the predictors, next to simple baselines on the same folds.

* Speed: leave-one-device-out (a device's rows with layers split over several of it, and the
  rows a source filed under a name that leaves the chip's variant open, are held out with it),
  and leave-one-source-out with every row on the source's devices (a new benchmark write-up on
  new hardware: its build, harness and models are new too). A held-out device is asked as a
  user who gives its specs would ask (:func:`as_given_by_specs`: kind, backend, bandwidth, one
  FP16 figure, memory; no name, no FLOPS basis). Reported for generation and prompt
  processing, for single GPUs, Apple, APUs and CPUs, multi-device splits (``multi_device``)
  and devices measured behind a host that held them back (``host_limited``: a GPU on a
  Raspberry Pi's PCIe x1 link, which the service never answers for) separately. Baselines:
  generation ``0.55 * bandwidth / active bytes``; prompt ``0.30 * FP16 FLOPS / (2 * active
  params)`` (devices without a FLOPS figure use 50 FLOP per byte of bandwidth).
* Quality: leave-one-model-out and leave-one-source-out, with slices for small models and low
  bit widths, and the KV-cache term (:mod:`advisor.predictors.quality_evaluation`). Baseline:
  the mean retention / PPL ratio / KLD per quant in the training folds.

Every figure is computed per held-out group first and then the median over groups is taken,
so that one well-measured device or model cannot hide failures elsewhere; interval coverage is
the mean over devices of the share of each device's rows inside its interval (every device
weighs the same), with the share of all rows beside it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed

from advisor.data.dataset import Dataset, atomic_write_text, default_measurements_dir
from advisor.predictors.capability import CapabilityModel, fit_capability
from advisor.predictors.capability_eval import evaluate_capability
from advisor.predictors.kv_cache import KVCacheTerm
from advisor.predictors.quality import QualityPredictor
from advisor.predictors.quality_evaluation import (
    grouped_cv,
    markdown_sections,
    quality_metrics,
    table,
)
from advisor.predictors.speed import SpeedPredictor, build_name, device_group
from advisor.predictors.speed_calibration import GEN_EFFICIENCY, PP_EFFICIENCY
from advisor.predictors.speed_features import speed_features
from advisor.vocabulary.errors import InvalidInputError

log = logging.getLogger(__name__)

PP_FLOPS_PER_BYTE = 50.0
#: Ways :func:`speed_cv` can hold rows out (see its docstring).
HOLD_OUTS = ("device", "source", "model_on_device")
__all__ = ["EvaluationReport", "evaluate", "quality_cv", "quality_metrics", "speed_baseline",
           "spec_only_summary", "speed_cv", "speed_metrics"]


@dataclass
class EvaluationReport:
    """Held-out figures (``metrics``), per-row predictions and the files written."""

    metrics: dict[str, Any]
    speed_rows: pd.DataFrame
    quality_rows: dict[str, pd.DataFrame]
    files: list[Path] = field(default_factory=list)


# -- speed ------------------------------------------------------------------------------------
def speed_baseline(frame: pd.DataFrame) -> pd.Series:
    """The bandwidth / compute rule of thumb, tokens/s (see the module docstring)."""
    x = speed_features(frame)
    flops = x["flops"].fillna(x["bandwidth"] * PP_FLOPS_PER_BYTE)
    gen = GEN_EFFICIENCY * x["bandwidth"] / x["active_bytes"]
    pp = PP_EFFICIENCY * flops / (2.0 * x["active_params"])
    return pd.Series(np.where(x["phase"] == "pp", pp, gen), index=frame.index)


def as_given_by_specs(rows: pd.DataFrame) -> pd.DataFrame:
    """Speed rows as a user who knows only a device's specs asks them: no name, no FLOPS basis,
    one FP16 figure (the vector one, else the tensor one: whichever the spec sheet gives)."""
    out = rows.assign(hardware=None, fp16_basis="")
    if "fp16_tensor_tflops" in out:
        out["fp16_tflops"] = pd.to_numeric(out["fp16_tflops"], errors="coerce").fillna(
            pd.to_numeric(out["fp16_tensor_tflops"], errors="coerce"))
        out["fp16_tensor_tflops"] = np.nan
    return out


def _speed_fold(train: pd.DataFrame, test: pd.DataFrame, params: dict[str, Any],
                known_device: bool = False) -> pd.DataFrame:
    try:
        model = SpeedPredictor(**params).fit(train)
    except InvalidInputError as e:  # e.g. a source whose devices hold all of one phase's rows
        log.warning("speed fold of %s skipped: %s", sorted(set(test["source_id"])), e)
        return pd.DataFrame()
    # a held-out device is asked by its specs; a known device keeps its name (and its effect)
    pred = model.predict(test if known_device else as_given_by_specs(test))
    pred.columns = ["pred", "pred_low", "pred_high"]
    kept = test[["hardware", "hardware_kind", "n_devices", "n_prompt", "n_gen", "tokens_per_s",
                 "source_id"]]
    kept = kept.assign(host_limited=speed_features(test)["host_limited"])
    return pd.concat([kept.rename(columns={"tokens_per_s": "actual"}), pred], axis=1)


def device_groups(kinds: pd.Series, chips: pd.Series, k: int) -> list[list[str]]:
    """``k`` groups of devices to hold out together: each kind's devices, sorted by name, dealt
    round-robin (continuing from one kind to the next), so every group holds devices of every
    kind that has enough of them. ``kinds`` and ``chips`` are per row."""
    if not isinstance(k, int) or isinstance(k, bool) or k < 2:
        raise InvalidInputError(f"device_folds must be a whole number >= 2, got {k!r}",
                                parameter="device_folds")
    kind_of = pd.Series(kinds.astype(str).to_numpy(), index=chips.to_numpy())
    kind_of = kind_of[~kind_of.index.duplicated()]
    order = sorted(kind_of.index, key=lambda d: (kind_of[d], d))
    groups: list[list[str]] = [[] for _ in range(min(k, len(order)))]
    for i, d in enumerate(order):
        groups[i % len(groups)].append(d)
    return groups


#: Groups of sources or models held out at a time by :func:`evaluate`: one fit of the speed
#: predictor takes about 17 s on 2 cores (it holds devices out inside itself to choose its
#: blend and intervals), so one fold per source (30) and per model on each device (164) on
#: top of one per device (71, about 12 minutes) would make every retraining take over an hour.
#: Devices are held out one at a time: the figure a user asking about an unseen device gets.
SPEED_FOLDS = 10


def speed_cv(frame: pd.DataFrame, *, n_jobs: int = 2,
             speed_params: dict[str, Any] | None = None,
             hold_out: str = "device", device_folds: int | None = None,
             folds: int | None = None) -> pd.DataFrame:
    """Held-out predictions for every row the predictor accepts for training.

    ``hold_out='device'``: leave one device out (with its multi-device rows); with
    ``device_folds=k``, hold out k groups of devices instead (:func:`device_groups`: every kind
    spread over the groups), k fits instead of one per device. ``'source'``:
    leave one source out together with every row, from any source, on the devices it measured,
    which is what a new benchmark write-up on new hardware looks like to the model.
    ``'model_on_device'``: on each device that ran two models or more, leave one model's rows
    out (split rows of that device and model too) and predict them with the device known: a
    model nobody ran on a device that others did.

    ``folds=k`` (``'source'`` and ``'model_on_device'``): hold out k groups of sources, or of
    models, at a time instead of one (sorted names dealt round-robin): k fits instead of one
    per source or per model on each device.
    """
    if hold_out not in HOLD_OUTS:
        raise InvalidInputError(f"hold_out must be one of {', '.join(HOLD_OUTS)}, got "
                                f"{hold_out!r}", parameter="hold_out")
    frame = frame.assign(source_id=frame.get("source_id", "unknown"))
    # the rows a user could ask about: the predictor's own training rules (single device, specs,
    # known active parameters, weights on the device, one phase) decide which rows are scored
    test = SpeedPredictor()._training_rows(frame)
    chip = frame["hardware"].map(device_group)
    devices = sorted(chip[test.index].unique())
    if len(devices) < 2:
        raise InvalidInputError(f"speed evaluation needs >= 2 devices with specs, got "
                                f"{len(devices)}", parameter="dataset")
    if folds is not None and (not isinstance(folds, int) or isinstance(folds, bool) or folds < 2):
        raise InvalidInputError(f"folds must be a whole number >= 2, got {folds!r}",
                                parameter="folds")
    fold_list: list[tuple[pd.Series, pd.Series]] = []
    if hold_out == "device":
        held_sets = [[d] for d in devices] if device_folds is None else \
            device_groups(test["hardware_kind"], chip[test.index], device_folds)
        fold_list = [(~chip.isin(ds), chip[test.index].isin(ds)) for ds in held_sets]
    elif hold_out == "model_on_device":
        if "model" not in frame:
            raise InvalidInputError("speed evaluation on known devices needs a 'model' "
                                    "column naming each row's model", parameter="dataset")
        single = test[test["n_devices"].fillna(1) <= 1]
        runs = single.groupby("hardware")["model"].nunique()
        pairs = single.loc[single["hardware"].map(runs) >= 2, ["hardware", "model"]]
        held_pairs = sorted(set(pairs.itertuples(index=False, name=None)))
        if folds is None:
            model_sets = [[p] for p in held_pairs]
        else:
            names = sorted({m for _, m in held_pairs})
            groups = [set(names[i::folds]) for i in range(min(folds, len(names)))]
            model_sets = [[p for p in held_pairs if p[1] in g] for g in groups]
        frame_pair = pd.Series(list(zip(frame["hardware"], frame["model"], strict=True)),
                               index=frame.index)
        single_pair = pd.Series(list(zip(single["hardware"], single["model"], strict=True)),
                                index=single.index)
        for pair_set in model_sets:
            chosen = set(pair_set)
            fold_list.append((~frame_pair.isin(chosen), single_pair.isin(chosen)))
        if not fold_list:
            raise InvalidInputError("speed evaluation on known devices needs a device that "
                                    "ran two models or more", parameter="dataset")
        test = single
    else:
        sources = sorted(test["source_id"].unique())
        if len(sources) < 2:
            raise InvalidInputError(f"speed evaluation by source needs >= 2 sources, got "
                                    f"{sources}", parameter="dataset")
        source_sets = [[src] for src in sources] if folds is None else \
            [sources[i::folds] for i in range(min(folds, len(sources)))]
        for group in source_sets:
            held = test["source_id"].isin(group)
            seen = set(test.loc[held, "hardware"])
            fold_list.append(((~frame["source_id"].isin(group)) & ~frame["hardware"].isin(seen),
                              held))
    params = {"calibration_folds": 4, **(speed_params or {})}
    known = hold_out == "model_on_device"
    parts = Parallel(n_jobs=n_jobs)(delayed(_speed_fold)(frame[train], test[held], params,
                                                         known)
                                    for train, held in fold_list)
    parts = [p for p in parts if len(p)]
    if not parts:
        raise InvalidInputError("no speed fold left enough rows to fit a model",
                                parameter="dataset")
    out = pd.concat(parts)
    out["baseline"] = speed_baseline(as_given_by_specs(test.loc[out.index]))
    out["phase"] = np.where(out["n_gen"] > 0, "generation", "prompt")
    # layers split over several devices are scored apart from single devices, and so are
    # setups whose host held the device back (a GPU behind a Raspberry Pi's PCIe x1 link): the
    # service never answers for such a setup, so they would blur the figure its users get
    out["device_class"] = np.select(
        [out["n_devices"].fillna(1) > 1, out["host_limited"]], ["multi_device", "host_limited"],
        out["hardware_kind"].astype(str))
    out["hardware"] = out["hardware"].map(device_group)  # a chip's rows are one device
    return out


def _group_stat(rows: pd.DataFrame, group: str, value: str, how: str) -> pd.Series:
    g = rows.groupby(group)[value]
    return g.median() if how == "median" else g.quantile(0.9) if how == "p90" else g.mean()


def speed_metrics(rows: pd.DataFrame) -> dict[str, Any]:
    """Median over devices of per-device APE figures, by phase and device class."""
    r = rows.assign(ape=(rows["pred"] / rows["actual"] - 1).abs(),
                    base_ape=(rows["baseline"] / rows["actual"] - 1).abs(),
                    covered=(rows["pred_low"] <= rows["actual"])
                    & (rows["actual"] <= rows["pred_high"]))
    out: dict[str, Any] = {}
    for (ph, cls), sub in r.groupby(["phase", "device_class"]):
        med = _group_stat(sub, "hardware", "ape", "median")
        out[f"{ph}/{cls}"] = {
            "devices": int(sub["hardware"].nunique()), "rows": int(len(sub)),
            "median_ape": float(med.median()),
            "p90_ape": float(_group_stat(sub, "hardware", "ape", "p90").median()),
            "worst_device_median_ape": float(med.max()),
            "baseline_median_ape": float(_group_stat(sub, "hardware", "base_ape",
                                                     "median").median()),
            "baseline_p90_ape": float(_group_stat(sub, "hardware", "base_ape", "p90").median()),
            "coverage_90": float(_group_stat(sub, "hardware", "covered", "mean").mean()),
            "coverage_90_pooled": float(sub["covered"].mean()),
        }
    return out


#: Hardware kinds the spec-only summary reports (a kind with one device cannot be held out from
#: devices of its own kind, so ``apu`` shows only where several were measured).
SPEC_KINDS = ("gpu", "apple", "cpu", "apu")


def spec_only_summary(metrics: dict[str, Any]) -> dict[str, Any]:
    """Per hardware kind, the held-out figures of devices given by their specs next to the two
    rules: generation against ``0.55 x bandwidth / active bytes``, prompt against ``0.30 x
    FLOPS / (2 x active params)`` (median over devices of each device's median APE), with the
    90% interval coverage of each phase and whether the model beats the rule. ``metrics`` is
    :func:`speed_metrics` of leave-one-device-out rows."""
    out: dict[str, Any] = {}
    for kind in SPEC_KINDS:
        gen, pp = metrics.get(f"generation/{kind}"), metrics.get(f"prompt/{kind}")
        if gen is None and pp is None:
            continue
        row: dict[str, Any] = {"devices": max(int(m["devices"]) for m in (gen, pp) if m)}
        for name, m, rule in (("tg", gen, "bandwidth_rule"), ("pp", pp, "flops_rule")):
            if m is None:
                continue
            row[f"{name}_median_ape"] = m["median_ape"]
            row[f"{name}_{rule}_median_ape"] = m["baseline_median_ape"]
            row[f"{name}_beats_rule"] = "yes" if m["median_ape"] < m["baseline_median_ape"] \
                else "no"
            row[f"{name}_coverage_90"] = m["coverage_90"]
        out[kind] = row
    return out


# -- quality ----------------------------------------------------------------------------------
def _fold_predictor() -> QualityPredictor:
    return QualityPredictor(calibration_folds=4)


def quality_cv(frame: pd.DataFrame, group: str, *, n_jobs: int = 2) -> pd.DataFrame:
    """Leave-one-``group``-out predictions of the quality predictor (``group`` is ``'model'``
    or ``'source_id'``; see :mod:`advisor.predictors.quality_evaluation`)."""
    return grouped_cv(_fold_predictor, frame, group, n_jobs=n_jobs)


# -- report -----------------------------------------------------------------------------------
def _plots(speed: pd.DataFrame, quality: dict[str, pd.DataFrame], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    files = []

    def save(fig: Any, name: str) -> None:
        path = out / name
        fig.tight_layout()
        fig.savefig(path, dpi=80)
        plt.close(fig)
        files.append(path)

    fig, axes = plt.subplots(1, 2, figsize=(11, 5))
    for ax, (ph, sub) in zip(axes, speed.groupby("phase"), strict=False):
        for kind, k in sub.groupby("device_class"):
            ax.scatter(k["actual"], k["pred"], s=6, label=kind)
        lim = [sub[["actual", "pred"]].min().min(), sub[["actual", "pred"]].max().max()]
        ax.plot(lim, lim, "k--", lw=1)
        ax.set(xscale="log", yscale="log", xlabel="measured tokens/s",
               ylabel="predicted (device held out)", title=f"speed: {ph}")
        ax.legend()
    save(fig, "speed_pred_vs_actual.png")

    ape = speed.assign(ape=(speed["pred"] / speed["actual"] - 1).abs() * 100)
    devices = ape["n_devices"] if "n_devices" in ape else pd.Series(1, index=ape.index)
    n = devices.fillna(1).astype(int)
    ape["setup"] = ape["hardware"].where(n <= 1, ape["hardware"] + " x" + n.astype(str))
    per = ape.groupby(["setup", "phase"])["ape"].median().unstack()
    fig, ax = plt.subplots(figsize=(10, max(4, 0.22 * len(per))))
    per.sort_values(per.columns[0]).plot.barh(ax=ax)
    ax.set(xlabel="median APE, % (device held out)", ylabel="", xscale="symlog")
    save(fig, "speed_error_by_hardware.png")

    lomo = quality.get("model", pd.DataFrame())
    if len(lomo):
        fig, axes = plt.subplots(1, 3, figsize=(15, 5))
        for ax, (t, sub) in zip(axes, lomo.groupby("target"), strict=False):
            ax.scatter(sub["actual"], sub["pred"], s=6, c=np.log10(sub["params_b"]))
            lim = [sub[["actual", "pred"]].min().min(), sub[["actual", "pred"]].max().max()]
            ax.plot(lim, lim, "k--", lw=1)
            ax.set(xlabel=f"measured {t}", ylabel="predicted (model held out)", title=t)
            if t != "retention":
                ax.set(xscale="log", yscale="log")
        save(fig, "quality_pred_vs_actual.png")

        err = lomo.assign(ae=(lomo["pred"] - lomo["actual"]).abs())
        per = err.groupby(["group", "target"])["ae"].median().unstack()
        fig, ax = plt.subplots(figsize=(10, max(4, 0.2 * len(per))))
        per.plot.barh(ax=ax, logx=True)
        ax.set(xlabel="median absolute error (model held out)", ylabel="")
        save(fig, "quality_error_by_model.png")

        ret = lomo[lomo["target"] == "retention"]
        fig, axes = plt.subplots(1, 2, figsize=(12, 5))
        for cat, sub in ret.groupby("task_category"):
            axes[0].scatter(sub["bpw"], sub["actual"], s=8, label=cat)
        sc = axes[1].scatter(ret["bpw"], ret["actual"], s=8, c=np.log10(ret["params_b"]))
        fig.colorbar(sc, ax=axes[1], label="log10 params (B)")
        for ax, title in zip(axes, ("by task category", "by model size"), strict=True):
            ax.set(xlabel="bits per weight", ylabel="retention", title=title)
        axes[0].legend(fontsize=7)
        save(fig, "retention_vs_bpw.png")

    cover = []
    for name, rows in (("speed", speed), *((f"quality/{g}", q) for g, q in quality.items())):
        for t, sub in rows.groupby("phase" if name == "speed" else "target"):
            inside = (sub["pred_low"] <= sub["actual"]) & (sub["actual"] <= sub["pred_high"])
            cover.append((f"{name}:{t}", float(inside.mean())))
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(cover) + 1.5))
    ax.barh([c[0] for c in cover], [c[1] for c in cover])
    for x in (0.85, 0.90, 0.95):
        ax.axvline(x, color="k", ls="--" if x == 0.90 else ":", lw=1)
    ax.set(xlim=(0, 1), xlabel="share of held-out rows inside the 90% interval")
    save(fig, "interval_coverage.png")
    return files


def _device_view_heading(device_folds: int | None) -> list[str]:
    if device_folds is None:
        return ["## Speed, devices held out (one at a time)", "",
                "Each device is held out in turn, with every row on it, single or split over "
                "several of it."]
    return [f"## Speed, devices held out ({device_folds} groups)", "",
            f"The devices are dealt into {device_folds} groups, every kind spread over them, "
            "and each group is held out in turn (faster than one device at a time, and "
            "harder: each fit sees fewer devices)."]


def render_markdown(metrics: dict[str, Any], notes: dict[str, Any]) -> str:
    plots = [f"![{p.stem}](plots/{p.name})" for p in notes.get("plots", [])] or [
        "Not drawn: matplotlib (the `plot` extra) is not installed."]
    parts = [
        "# Held-out evaluation of the predictors", "",
        "Generated by `advisor.predictors.evaluation.evaluate`; do not edit by hand.", "",
        f"Training data hash: `{notes.get('data_hash', '')}`.", "",
        "Every figure is computed per held-out group (device, model or source) and then the "
        "median over groups is reported. APE = |predicted / measured - 1|. Retention and PPL "
        "ratio errors are in points (1 point = 0.01 of the ratio). Baselines are fitted on the "
        "same training folds: speed `0.55 x bandwidth / active bytes` (generation) and "
        "`0.30 x FP16 FLOPS / (2 x active params)` (prompt; 50 FLOP/byte x bandwidth where no "
        "FLOPS figure exists); quality: mean retention / PPL ratio / KLD per quant. "
        "`coverage_90` is the mean over devices of the share of their rows inside the 90% "
        "interval (`coverage_90_pooled`: of all rows). "
        "`multi_device` rows split a model's layers over 2-8 identical GPUs; they are held out "
        "with their device. `host_limited` rows were measured behind a host that held the "
        "device back (a GPU on a Raspberry Pi's PCIe x1 link); the model trains on them with a "
        "label, and they are scored apart because the service never answers for such a "
        "setup.", "",
        *_device_view_heading(notes.get("device_folds")),
        "Each held-out device is asked as a device given by "
        "its specs (kind, backend, bandwidth, one FP16 figure, memory: no name, no FLOPS "
        "basis); the rows a source filed "
        "under a name that leaves a chip's variant open are held out with that chip. "
        f"Predictions are for the newest build in training ({notes.get('assumed_build', '')}) "
        "unless a row states its build.", "", table(metrics["speed"]), "",
        "## Speed of devices given by their specs, against the rules", "",
        "The same held-out devices per hardware kind: `tg` is generation (tg tests) against "
        "`0.55 x bandwidth / active bytes`, `pp` is prompt processing (pp tests) against "
        "`0.30 x FP16 FLOPS / (2 x active params)`; median over devices of each device's "
        "median APE, and the mean over devices of the share of their rows inside the 90% "
        "interval.", "", table(spec_only_summary(metrics["speed"])), "",
        f"## Speed, sources held out with their devices ({SPEED_FOLDS} groups)", "",
        "Each group of sources is held out together with every row, from any source, on the "
        "devices they measured: a new write-up on hardware the model never saw. Figures are "
        "still per device, then the median over devices.", "",
        table(metrics["speed_by_source"]), "",
        f"## Speed on known devices, models held out ({SPEED_FOLDS} groups)", "",
        "On each device that ran two models or more, a group of models' rows is held out and "
        "predicted with the device named, as the service predicts a known device: its "
        "generation offset (learned from the other models' rows) applies. Intervals are the "
        "unseen-device ones, so they are wider than a known device needs.", "",
        table(metrics["speed_known_device"]), "",
        *markdown_sections(metrics),
        *notes.get("sections", []),
        "## Training rows excluded", "",
        *(f"- {k}: {v}" for k, v in notes.get("exclusions", {}).items()), "",
        "## Plots", "", *plots, "",
    ]
    return "\n".join(parts)


def evaluate(dataset: Dataset, out_dir: Path, *, n_jobs: int = 2,
             speed_params: dict[str, Any] | None = None, catalog_dir: Path | None = None,
             capability: CapabilityModel | None = None,
             device_folds: int | None = None) -> EvaluationReport:
    """Run the grouped cross-validation; write ``EVALUATION.md`` and ``plots/`` to ``out_dir``.

    ``speed_params`` are :class:`SpeedPredictor` arguments for the fold models. The capability
    fit (:mod:`~advisor.predictors.capability_eval`) is evaluated on ``capability`` if given,
    else on one fitted on ``catalog_dir`` (default ``measurements/catalog``). Speed holds out
    one device at a time, or ``device_folds`` groups of devices (:func:`device_groups`).
    """
    out_dir = Path(out_dir)
    sframe = dataset.speed_frame()
    speed_rows = speed_cv(sframe, n_jobs=n_jobs, speed_params=speed_params,
                          device_folds=device_folds)

    def other_view(hold_out: str) -> dict[str, Any]:
        try:
            return speed_metrics(speed_cv(sframe, n_jobs=n_jobs, speed_params=speed_params,
                                          hold_out=hold_out, folds=SPEED_FOLDS))
        except InvalidInputError as e:  # e.g. one source, or no device that ran two models
            log.warning("speed evaluation (hold out %s) skipped: %s", hold_out, e)
            return {"not computed": {"reason": str(e)}}

    qframe = dataset.quality_frame()
    quality_rows = {g: quality_cv(qframe, g, n_jobs=n_jobs) for g in ("model", "source_id")}
    metrics = {"speed": speed_metrics(speed_rows),
               "speed_by_source": other_view("source"),
               "speed_known_device": other_view("model_on_device"),
               "quality_by_model": quality_metrics(quality_rows["model"]),
               "quality_by_source": quality_metrics(quality_rows["source_id"]),
               "kv_cache": KVCacheTerm().fit(qframe).held_out_}
    if capability is None:
        capability = fit_capability(catalog_dir or default_measurements_dir() / "catalog")
    capability_metrics, capability_section = evaluate_capability(capability)
    metrics.update(capability_metrics)
    try:
        files = _plots(speed_rows, quality_rows, out_dir / "plots")
    except ModuleNotFoundError as e:  # the `plot` extra is optional: the service lacks it
        if (e.name or "").partition(".")[0] != "matplotlib":
            raise
        log.info("evaluation plots not drawn: matplotlib is not installed (the 'plot' extra)")
        files = []
    sp = SpeedPredictor(calibration_folds=2)
    sp._training_rows(sframe)
    qp = QualityPredictor()
    qp._training_rows(qframe)
    years = speed_features(sp._training_rows(sframe))["build_year"]
    notes = {"data_hash": dataset.content_hash, "plots": files, "device_folds": device_folds,
             "sections": [capability_section],
             "assumed_build": build_name(float(years.max())) if years.notna().any() else "",
             "exclusions": {**{f"speed {k}": v for k, v in sp.exclusions_.items()},
                            **{f"quality {k}": v for k, v in qp.exclusions_.items()}}}
    md = out_dir / "EVALUATION.md"
    atomic_write_text(md, render_markdown(metrics, notes))
    log.info("evaluation written to %s", md)
    return EvaluationReport(metrics, speed_rows, quality_rows, [md, *files])
