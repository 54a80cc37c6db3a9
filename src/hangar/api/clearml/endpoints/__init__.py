"""The endpoint modules: importing one registers its endpoints (one line per module)."""

from hangar.api.clearml.endpoints import auth as auth
from hangar.api.clearml.endpoints import server as server
