"""The load report: frames, figures, Markdown and HTML (``build_report``)."""

from reports.load.render import build_report

__all__ = ["build_report"]
