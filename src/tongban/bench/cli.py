"""``tongban bench``: each capability's ``bench`` module adds its workloads with ``register(bench_app)``."""

from __future__ import annotations

import typer

from tongban.core.plugins import capability_modules

bench_app = typer.Typer(
    help="Measure a workload against a baseline of this machine from the same run; --json for one JSON object.",
    no_args_is_help=True,
)

for _module in capability_modules("bench"):
    _module.register(bench_app)
