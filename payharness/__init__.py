"""The command line on top of core, sim, loadtests and reports."""
