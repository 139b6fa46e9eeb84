"""Reports from sim and load runs (pandas frames, matplotlib figures, Markdown and HTML)."""
