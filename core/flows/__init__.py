"""Flows: generators that yield effects and return an answer. No I/O inside."""
