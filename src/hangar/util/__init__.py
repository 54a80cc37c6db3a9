"""Dependency-free helpers every layer may use: the core, the faces, the agent, the SDK.

A leaf: nothing here imports anything else of hangar (an import-linter contract keeps it so).
"""
