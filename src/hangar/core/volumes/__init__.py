"""Volumes: a user's named storage of a type and size, backed by a virtual folder."""
