"""Verification of the payment core: the Hypothesis property gate, the fixed situations and
the mutants that prove the gate bites. Sits above ``sim`` and below ``loadtests``."""
