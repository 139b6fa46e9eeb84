"""The bench report: ``bench.md`` from a bench run's ``bench.json`` summary."""

from reports.bench.render import render_bench, write_bench_report

__all__ = ["render_bench", "write_bench_report"]
