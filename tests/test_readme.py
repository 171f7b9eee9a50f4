"""The README's example outputs are what the product prints now (``make readme`` rewrites them)."""

from __future__ import annotations

import difflib
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location("readme_examples",
                                                  ROOT / "scripts" / "readme_examples.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def script():
    return _script()


def test_readme_examples_are_what_the_product_prints(script):
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert {m.group("name") for m in script.BLOCK.finditer(text)} == set(script.EXAMPLES)
    product = script.Product()
    try:
        fresh = script.render(text, product)
    finally:
        product.close()
    diff = "".join(difflib.unified_diff(text.splitlines(True), fresh.splitlines(True),
                                        "README.md", "what the product prints"))
    assert fresh == text, f"README examples are stale: run `make readme`\n{diff}"


def test_render_replaces_only_the_marked_blocks(script):
    class Stub:
        pass

    script.EXAMPLES["stub"] = lambda product: "```\nnew\n```\n"
    try:
        text = "a\n<!-- example: stub -->\n```\nold\n```\n<!-- /example -->\nb\n"
        assert script.render(text, Stub()) == text.replace("old", "new")
        with pytest.raises(KeyError, match="nope"):
            script.render("<!-- example: nope -->\n<!-- /example -->\n", Stub())
    finally:
        del script.EXAMPLES["stub"]


def test_compact_json_breaks_only_long_values(script):
    assert script.compact({"a": 1, "b": [1, 2]}) == '{"a": 1, "b": [1, 2]}'
    long = {"k": "x" * 120, "short": {"v": 1}}
    assert script.compact(long) == '{\n  "k": "' + "x" * 120 + '",\n  "short": {"v": 1}\n}'
