"""A task's events: scalars (stored for bulk writes and whole-history reads), plots, debug
images, vectors and logs; the per-task summaries (``last_metrics``) aggregated on write."""
