"""The package's shape: stages as subpackages, a shallow import graph, modules a reader can
hold in mind. The layer contracts themselves are import-linter's (``lint-imports``, in
``make check``; pyproject.toml ``[tool.importlinter]``)."""

from __future__ import annotations

import functools
from pathlib import Path

import grimp
import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "advisor"
STAGES = ("vocabulary", "data", "predictors", "recommender", "service", "cli", "measure",
          "machine")
#: Longest chain of imports, counted in modules (``a -> b -> c`` is 3 levels).
MAX_IMPORT_LEVELS = 9
MAX_MODULE_LINES = 500


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("advisor", exclude_type_checking_imports=True, cache_dir=None)


def longest_chain(graph: grimp.ImportGraph, module: str) -> tuple[str, ...]:
    @functools.cache
    def chain(m: str) -> tuple[str, ...]:
        below = [chain(d) for d in graph.find_modules_directly_imported_by(m) if d != m]
        return (m, *max(below, key=len, default=()))

    return chain(module)


def test_each_stage_is_a_subpackage() -> None:
    for stage in STAGES:
        assert (PACKAGE / stage / "__init__.py").is_file(), stage


def test_import_graph_is_shallow(graph: grimp.ImportGraph) -> None:
    deepest = max((longest_chain(graph, m) for m in graph.modules), key=len)
    assert len(deepest) <= MAX_IMPORT_LEVELS, " -> ".join(deepest)


def test_longest_chain_counts_levels() -> None:
    g = grimp.ImportGraph()
    for a, b in (("p.a", "p.b"), ("p.b", "p.c"), ("p.a", "p.c")):
        g.add_import(importer=a, imported=b)
    assert longest_chain(g, "p.a") == ("p.a", "p.b", "p.c")


def test_no_module_is_too_long() -> None:
    long = {str(p.relative_to(PACKAGE)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES}
    assert not long, f"split these modules (over {MAX_MODULE_LINES} lines): {long}"


def test_public_api_paths() -> None:
    from advisor import Advisor
    from advisor.errors import InvalidInputError, NothingFitsError, UnknownNameError
    from advisor.recommend import Advisor as DocumentedPath
    from advisor.recommender.advisor import Advisor as Home

    assert Advisor is DocumentedPath is Home
    assert issubclass(UnknownNameError, InvalidInputError) and issubclass(InvalidInputError,
                                                                          ValueError)
    assert NothingFitsError.__module__ == "advisor.vocabulary.errors"
