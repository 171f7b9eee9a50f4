"""quant-advisor: which GGUF quantization of which LLM to run, on this machine, for this work.

The Python API is :class:`Advisor` (``from advisor import Advisor``); its errors are in
:mod:`advisor.errors`. The stages live in subpackages: ``vocabulary`` (schema, units, quants,
tasks, errors, settings), ``data`` (catalog, hardware, datasets, importers), ``predictors``
(quality and speed models), ``recommender`` (memory, candidates, ranking, results), ``service``
(HTTP), ``cli`` and ``measure``; ``docs/ARCHITECTURE.md`` says what flows between them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from advisor._version import __version__

__all__ = ["Advisor", "__version__"]

if TYPE_CHECKING:
    from advisor.recommender.advisor import Advisor


def __getattr__(name: str) -> Any:
    # Loaded on first use, so that ``import advisor.vocabulary`` (or the CLI's start) does not
    # pull in pandas and scikit-learn.
    if name == "Advisor":
        from advisor.recommender.advisor import Advisor

        return Advisor
    raise AttributeError(f"module 'advisor' has no attribute {name!r}")
