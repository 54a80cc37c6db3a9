"""Background tasks: long operations that report progress and keep their final state."""
