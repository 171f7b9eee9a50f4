"""Helpers for the CPU thread count tests: a speed predictor that uses ``threads`` and keeps
every frame it is asked about, and an advisor built on it."""

from __future__ import annotations

import numpy as np
import pandas as pd
from conftest import HARDWARE, FakeCard, FakePredictors, FakeQuality, FakeSpeed

from advisor.data.catalog import load_catalog
from advisor.recommender.advisor import Advisor
from advisor.vocabulary.settings import Settings

#: What :class:`ThreadedSpeed` assumes when a frame's ``threads`` is NaN.
DEFAULT_THREADS = 8.0


class ThreadedSpeed(FakeSpeed):
    """:class:`FakeSpeed`, with CPU rows scaled by ``threads / 8`` (NaN counts as 8), and a
    record of the frames passed to :meth:`predict`."""

    def __init__(self) -> None:
        self.frames: list[pd.DataFrame] = []

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        self.frames.append(frame.copy())
        out = super().predict(frame)
        threads = frame["threads"].astype(float).fillna(DEFAULT_THREADS).to_numpy()
        cpu = (frame["hardware_kind"] == "cpu").to_numpy()
        scale = np.where(cpu, threads / DEFAULT_THREADS, 1.0)
        return out.mul(scale, axis=0)


def threaded_advisor() -> tuple[Advisor, ThreadedSpeed]:
    """A fresh advisor (its own candidate table and speed cache) on :class:`ThreadedSpeed`."""
    speed = ThreadedSpeed()
    advisor = Advisor(load_catalog(), FakePredictors(FakeQuality(), speed, FakeCard()), None,
                      dict(HARDWARE), Settings())
    return advisor, speed
