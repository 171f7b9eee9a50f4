"""Shared vocabulary: the measurement schema, units, quant types, task categories, errors and
settings."""
