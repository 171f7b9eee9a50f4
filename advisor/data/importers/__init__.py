"""Importers: published tables (shared data folder) into the project schema under measurements/."""
