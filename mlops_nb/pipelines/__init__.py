"""Notebook → pipeline: pipeline files (spec), parameter contracts, validation, gated runs and sweeps."""
