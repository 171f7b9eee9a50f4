"""Write every command-output example of README.md from what the product prints now.

Each example sits between ``<!-- example: NAME -->`` and ``<!-- /example -->`` in the README
and is produced here by running the product in-process with the committed catalog, data and
predictors: the HTTP API through FastAPI's test client, the command line through click's
runner at 80 columns. ``make readme`` rewrites the README; ``--check`` exits 1 (printing a
diff) when it differs, which ``tests/test_readme.py`` asserts never happens.

    python scripts/readme_examples.py [--check] [README.md]
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(r"(<!-- example: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /example -->)",
                   re.DOTALL)
RTX = "NVIDIA GeForce RTX 3090"
WIDTH = 100  # a JSON value longer than this is broken over lines


class Product:
    """The API (test client) and the command line, loaded once."""

    def __init__(self) -> None:
        from fastapi.testclient import TestClient

        from advisor.service.app import create_app
        from advisor.vocabulary.settings import Settings

        self._tmp = tempfile.TemporaryDirectory(prefix="advisor-readme-")
        self.api = TestClient(create_app(Settings(data_dir=Path(self._tmp.name))))
        self.api.__enter__()

    def close(self) -> None:
        self.api.__exit__(None, None, None)
        self._tmp.cleanup()

    def get(self, path: str, **params: Any) -> tuple[int, Any]:
        r = self.api.get(path, params=params)
        return r.status_code, r.json()

    def cli(self, *args: str) -> str:
        from click.testing import CliRunner

        from advisor.cli.main import cli

        result = CliRunner(env={"COLUMNS": "80", "NO_COLOR": "1"}).invoke(
            cli, list(args), prog_name="quant-advisor")
        if result.exit_code != 0:
            raise RuntimeError(f"quant-advisor {' '.join(args)} exited {result.exit_code}: "
                               f"{result.output}")
        return result.stdout


def compact(value: Any, indent: int = 0) -> str:
    """JSON with short values on one line and long ones broken over lines."""
    one = json.dumps(value, ensure_ascii=False)
    if len(one) + indent <= WIDTH or not isinstance(value, dict | list) or not value:
        return one
    pad = " " * (indent + 2)
    if isinstance(value, dict):
        items = [f"{pad}{json.dumps(k)}: {compact(v, indent + 2)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"
    items = [pad + compact(v, indent + 2) for v in value]
    return "[\n" + ",\n".join(items) + "\n" + " " * indent + "]"


def _trimmed(value: Any) -> Any:
    """``value`` without null fields, floats to 4 significant digits."""
    if isinstance(value, dict):
        return {k: _trimmed(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_trimmed(v) for v in value]
    if isinstance(value, float):
        return float(f"{value:.4g}")
    return value


def _abridged(answer: dict[str, Any]) -> dict[str, Any]:
    """The answer with long lists cut to their first item, the request and the pick's
    bookkeeping fields left out, nulls dropped and floats to 4 significant digits."""
    pick = {k: v for k, v in answer["pick"].items()
            if k not in ("family", "quant_family", "fits", "quality_score", "retention")}
    memory = dict(pick["memory"])
    memory["assumptions"] = [memory["assumptions"][0], "..."]
    pick["memory"] = memory
    return _trimmed({"pick": pick, "alternatives": ["... ranked candidates that also fit ..."],
                     "pareto_front": [answer["pareto_front"][0], "..."],
                     "explanation": answer["explanation"], "notes": answer["notes"],
                     "predictor_version": answer["predictor_version"]})


def api_answer(product: Product) -> str:
    status, body = product.get("/recommend", vram="24GB", task="reasoning", hardware=RTX)
    assert status == 200, body
    return "```json\n" + compact(_abridged(body)) + "\n```\n"


def api_error(product: Product) -> str:
    status, body = product.get("/recommend", vram="abc")
    assert status == 422, body
    body.pop("request_id", None)
    return f"```json\n{compact(body)}\n```\n"


def _console(command: list[str], output: str) -> str:
    """A console block: the command, then its output (trailing blanks of lines dropped)."""
    shown = " ".join(f'"{a}"' if " " in a else a for a in command)
    lines = "\n".join(line.rstrip() for line in output.rstrip().splitlines())
    return f"```console\n$ quant-advisor {shown}\n{lines}\n```\n"


def cli_recommend(product: Product) -> str:
    args = ["recommend", "--vram", "8GB", "--task", "coding", "--hardware",
            "Apple M2 Pro (19-core GPU, 32GB)", "--alternatives", "4"]
    return _console(args, product.cli(*args))


def cli_launch(product: Product) -> str:
    args = ["recommend", "--vram", "24GB", "--context", "16384", "--cache-type", "q8_0",
            "--hardware", "rtx 3090", "--json"]
    pick = json.loads(product.cli(*args))["pick"]
    shown = " ".join(f'"{a}"' if " " in a else a for a in args)
    selected = {"download": pick["download"], "run": pick["run"]}  # as jq prints it
    return (f"```console\n$ quant-advisor {shown} | jq '.pick | {{download, run}}'\n"
            f"{json.dumps(selected, indent=2, ensure_ascii=False)}\n```\n")


def cli_memory(product: Product) -> str:
    args = ["memory", "--model", "Qwen3-14B", "--quant", "Q8_0", "--context", "32768"]
    return _console(args, product.cli(*args))


def cli_offload(product: Product) -> str:
    args = ["recommend", "--vram", "12GB", "--ram", "64GB", "--task", "coding", "--hardware",
            "NVIDIA GeForce RTX 3060 12GB", "--alternatives", "3"]
    return _console(args, product.cli(*args))


def cli_distills(product: Product) -> str:
    """The seed article's question: R1 distills at 8 GB, reasoning against coding."""
    blocks = []
    for task in ("reasoning", "coding"):
        args = ["recommend", "--vram", "8GB", "--task", task, "--context", "4096", "--model",
                "DeepSeek-R1-Distill-Llama-8B", "--model", "DeepSeek-R1-Distill-Qwen-14B",
                "--alternatives", "3"]
        blocks.append(_console(args, product.cli(*args)))
    return "".join(blocks)


EXAMPLES: dict[str, Callable[[Product], str]] = {
    "api-answer": api_answer, "api-error": api_error, "cli-recommend": cli_recommend,
    "cli-launch": cli_launch, "cli-memory": cli_memory, "cli-offload": cli_offload,
    "cli-distills": cli_distills,
}


def render(text: str, product: Product) -> str:
    """``text`` (the README) with every example block produced anew."""
    names = [m.group("name") for m in BLOCK.finditer(text)]
    unknown = sorted(set(names) - set(EXAMPLES))
    if unknown:
        raise KeyError(f"README names examples this script does not make: {unknown}; known: "
                       f"{sorted(EXAMPLES)}")
    return BLOCK.sub(lambda m: m.group(1) + EXAMPLES[m.group("name")](product) + m.group(4),
                     text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("readme", nargs="?", type=Path, default=README)
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 if stale")
    args = parser.parse_args(argv)
    text = args.readme.read_text(encoding="utf-8")
    product = Product()
    try:
        new = render(text, product)
    finally:
        product.close()
    if new == text:
        print(f"{args.readme}: examples up to date", file=sys.stderr)
        return 0
    if args.check:
        sys.stdout.writelines(difflib.unified_diff(
            text.splitlines(keepends=True), new.splitlines(keepends=True),
            f"{args.readme} (committed)", f"{args.readme} (what the product prints)"))
        return 1
    args.readme.write_text(new, encoding="utf-8")
    print(f"{args.readme}: examples rewritten", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
