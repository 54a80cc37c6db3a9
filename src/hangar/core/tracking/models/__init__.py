"""Models: the weights a task produced or used, with their design, labels and metadata."""
