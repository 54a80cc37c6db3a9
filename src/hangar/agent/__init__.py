"""The agent: what a node has (``resources``) and how it runs kernels (``runtimes``).

The agent never imports ``hangar.core``, ``hangar.db`` or ``hangar.api``; it speaks in the plain
dataclasses defined here, which an ``AgentClient`` adapter on the core side translates.
"""
