"""The GPU-cloud face: the Yotta platform API v2 (``/v2/...``) over the core."""
