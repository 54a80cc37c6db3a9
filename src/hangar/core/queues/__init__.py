"""Queues of tasks waiting for workers, and the workers (Hangar's own executor or external
agents) that take them: :mod:`.service` writes, :mod:`.reads` reads, :mod:`.workers` keeps
the workers' registry and machine stats."""
