"""Tasks of QUEUE-mode serverless endpoints: stored, dispatched FIFO to RUNNING workers,
their results delivered to webhooks with retries."""
