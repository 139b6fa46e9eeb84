"""Runtimes: who answers a flow's effects (models now, one step at a time, or real servers)."""
