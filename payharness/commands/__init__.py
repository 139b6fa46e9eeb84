"""Subcommands, one module each, discovered by ``payharness.cli``."""
