"""Reports of simulator runs: pandas frames, matplotlib figures, Markdown and a
self-contained HTML page (figures embedded as PNG data URIs)."""
