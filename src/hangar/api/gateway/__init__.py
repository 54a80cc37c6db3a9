"""The ALB gateway of serverless endpoints (cloud spec §3.6): HTTP and WebSocket requests
to ``<domain label>.<endpoint_domain>`` or ``/serverless-proxy/{id}/...``, balanced over
the endpoint's RUNNING workers."""
