"""``quant-advisor models``: list the catalog, show one model, add one from a GGUF file.

``models`` and ``models show NAME`` print a table, or with ``--json`` the catalog rows
(:class:`advisor.data.catalog.ModelRow`'s fields: ``name, family, released, params_b,
active_params_b, max_context, n_layers, n_kv_heads, head_dim, n_experts, n_experts_used`` and
the rest of the architecture). ``models add FILE.gguf [--name NAME]`` reads the file's header
(nothing else of the file is loaded) and keeps the model in ``<data_dir>/models_added.csv``, so
it is sized and ranked like a catalog model from then on.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from advisor.cli.common import errors_to_exit
from advisor.vocabulary.settings import get_settings

#: How the listing shows each mode (``reasoning_effort``: gpt-oss's low/medium/high).
_MODE_LABELS = {"instruct": "instruct", "thinking": "thinking", "hybrid": "hybrid",
                "reasoning_effort": "effort"}
#: The fields ``models show`` always prints, in order.
LIST_FIELDS = ("name", "family", "released", "params_b", "active_params_b", "max_context",
               "modes", "recommendable")


def _catalog() -> Any:
    from advisor.data.catalog import load_catalog

    settings = get_settings()
    return load_catalog(settings.catalog_path, settings.added_models_path)


def _row(model: Any) -> dict[str, Any]:
    return model.model_dump(mode="json", exclude={"capability"})


def _billions(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value / 1000:.3g}T" if value >= 1000 else f"{value:.3g}B"


@click.group("models", invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print the catalog rows as JSON.")
@click.option("--family", default=None, help="Only models of this family.")
@click.pass_context
@errors_to_exit
def models(ctx: click.Context, as_json: bool, family: str | None) -> None:
    """The model catalog: architectures, sizes, release months, modes."""
    if ctx.invoked_subcommand is not None:
        return
    catalog = _catalog()
    chosen = catalog.filter(family=family) if family else list(catalog.models)
    if as_json:
        click.echo(json.dumps([_row(m) for m in chosen], indent=1))
        return
    rows = [(m.name + ("" if m.recommendable else " *"), m.released or "-",
             _billions(m.params_b), _billions(m.active_params_b) if m.is_moe else "",
             f"{m.max_context // 1024}K" if m.max_context else "-",
             _MODE_LABELS.get(m.modes or "", "-")) for m in chosen]
    header = ("model", "release", "params", "active", "context", "modes")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, *rows]:
        click.echo(r[0].ljust(widths[0]) + " " + " ".join(
            c.rjust(w) for c, w in zip(r[1:], widths[1:], strict=True)))
    click.echo(f"{len(chosen)} model{'s' if len(chosen) != 1 else ''}; "
               "quant-advisor models show NAME for one", err=True)
    if any(not m.recommendable for m in chosen):
        click.echo("* not recommended: a number the memory estimate needs is missing "
                   "(models show NAME says which)", err=True)


@models.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the catalog row as JSON.")
@errors_to_exit
def show(name: str, as_json: bool) -> None:
    """One model's catalog row (a name that matches nothing answers with "did you mean")."""
    model = _catalog().get(name)
    row = _row(model)
    if as_json:
        click.echo(json.dumps(row, indent=1))
        return
    table = Table(title=model.name, show_header=False)
    table.add_column("field")
    table.add_column("value")
    for key, value in row.items():
        if value not in (None, "", 0) or key in LIST_FIELDS:
            table.add_row(key, str(value))
    Console().print(table)


@models.command("add")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--name", default=None, help="Catalog name [the file's general.name].")
@click.option("--json", "as_json", is_flag=True, help="Print the added row as JSON.")
@errors_to_exit
def add(file: Path, name: str | None, as_json: bool) -> None:
    """Add the model in a GGUF file (its header only) to the catalog."""
    from advisor.data.catalog import add_model
    from advisor.data.gguf_header import model_row_from_gguf

    row = model_row_from_gguf(file, name=name)
    where = add_model(row, get_settings().added_models_path, _catalog())
    if as_json:
        click.echo(json.dumps(row.model_dump(mode="json"), indent=1))
    click.echo(f"added {row.name} ({_billions(row.params_b)} parameters, {row.n_layers} "
               f"layers) to {where}", err=True)
    if not row.recommendable:
        click.echo(f"note: {row.name} cannot be recommended: {row.not_recommendable_reason}",
                   err=True)
