"""Hangar's web UI: a face of its own over the core's services (see ui/app.py).

Server-rendered pages (Jinja2) with small islands of JavaScript (htmx, a few lines of our own
for live status). It imports no other face and no database module: what a page shows comes
from the same services and scoped reads the API faces use, with the signed-in user's
principal.
"""
