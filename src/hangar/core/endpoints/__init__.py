"""Serverless endpoints: elastic sets of workers (compute sessions) behind a gateway or a
task queue."""
