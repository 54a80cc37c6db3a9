"""Query mode: one Jupyter kernel (ipykernel) per session, started inside the session's
sandbox as the work user, driven over ZeroMQ with jupyter_client; and a pool of pre-started
kernels so that a new session's first cell does not wait for ipykernel to import."""
