"""The capacity report beyond one machine: a prediction from the simulator, with live
points beside it when a live run is given."""
