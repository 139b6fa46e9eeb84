"""The simulator: the sans-IO core inside a SimPy world of clients, servers and faults.

``sim.scenario`` loads and validates scenario files, ``sim.engine`` wires the world of
clients, servers, backends and faults (one module each),
``sim.runner`` runs one scenario for one variant and judges it with ``core.checker``,
``sim.sweep`` runs grids of them, ``sim.bench`` measures the simulator itself.
"""
