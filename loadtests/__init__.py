"""Live load and fault runs: Locust users and shapes, live faults, the exactly-once audit.

``loadtests`` drives the live stack (``payharness stack up``) over HTTP, writes every client
request and response to a JSON-lines history as it happens, and judges the run with the same
``core.checker.check`` that the simulator and the property tests use.
"""
