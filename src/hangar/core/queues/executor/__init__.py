"""Hangar as a ClearML worker: queued tasks of the queues Hangar serves run as batch sessions.

:mod:`.plan` decides (pure), :mod:`.workspace` prepares a run's files and its line to the
API on the host, :mod:`.launch` runs inside the session, :mod:`.service` is the loop.
"""
