"""Queue and worker rows in, domain values out: the only modules that import their tables."""
