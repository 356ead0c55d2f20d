"""Deprecated location: the generator contract is `synthloom.engine.generator`."""
