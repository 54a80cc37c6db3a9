"""Trees a tenant can write (scratch dirs, folders), handled through directory descriptors
only. The rules are in :mod:`hangar.util.fdtree.base`; a leaf package, so the agent and the core
share it (an import-linter contract keeps it so)."""

from hangar.util.fdtree.base import (
    DIR_FLAGS,
    FILE_FLAGS,
    MAX_DEPTH,
    TreeError,
    TreeUsage,
    chmod_files,
    make_dirs,
    measure,
    open_regular,
    open_root,
    open_subdir,
    opened,
    walk,
)
from hangar.util.fdtree.copying import copy_tree
from hangar.util.fdtree.removal import remove_at, remove_tree

__all__ = [
    "DIR_FLAGS",
    "FILE_FLAGS",
    "MAX_DEPTH",
    "TreeError",
    "TreeUsage",
    "chmod_files",
    "copy_tree",
    "make_dirs",
    "measure",
    "open_regular",
    "open_root",
    "open_subdir",
    "opened",
    "remove_at",
    "remove_tree",
    "walk",
]
