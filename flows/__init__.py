"""The coKreat jobs as Bytewax dataflows: one package per job, built on :mod:`flows.runtime.pipeline`."""
