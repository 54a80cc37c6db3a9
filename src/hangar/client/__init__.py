"""Hangar's Python SDK for the Backend.AI API (HTTP only; no server code).

from hangar.client import Session

with Session() as session:
    kern = session.ComputeSession.get_or_create("python:3.6-ubuntu18.04")
"""

from hangar.client.config import APIConfig, get_config, get_env, set_config
from hangar.client.exceptions import (
    BackendAPIError,
    BackendClientError,
    BackendError,
)
from hangar.client.request import (
    AttachedFile,
    FetchContextManager,
    Request,
    Response,
    WebSocketContextManager,
    WebSocketResponse,
    WSMsgType,
)
from hangar.client.session import AsyncSession, BaseSession, Session
from hangar.client.utils import undefined

__all__ = [
    "APIConfig",
    "AsyncSession",
    "AttachedFile",
    "BackendAPIError",
    "BackendClientError",
    "BackendError",
    "BaseSession",
    "FetchContextManager",
    "Request",
    "Response",
    "Session",
    "WSMsgType",
    "WebSocketContextManager",
    "WebSocketResponse",
    "get_config",
    "get_env",
    "set_config",
    "undefined",
]
