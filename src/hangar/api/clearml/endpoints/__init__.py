"""The endpoint modules: importing one registers its endpoints (one line per module)."""

from hangar.api.clearml.endpoints import auth as auth
from hangar.api.clearml.endpoints import event_browse as event_browse
from hangar.api.clearml.endpoints import event_pages as event_pages
from hangar.api.clearml.endpoints import events as events
from hangar.api.clearml.endpoints import models as models
from hangar.api.clearml.endpoints import projects as projects
from hangar.api.clearml.endpoints import queues as queues
from hangar.api.clearml.endpoints import server as server
from hangar.api.clearml.endpoints import task_fields as task_fields
from hangar.api.clearml.endpoints import tasks as tasks
from hangar.api.clearml.endpoints import workers as workers
