"""Published data and the catalog: datasets, models, capability, hardware, and their importers."""
