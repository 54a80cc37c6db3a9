"""Experiment tracking: projects and tasks, their events (scalars, plots, images, logs),
models and files. The ClearML face speaks it; the core words it neutrally."""
