"""Service apps of a kernel: sshd, the web terminal, Jupyter, and the shared terminal."""

from hangar.agent.services.manager import AppLaunchFailed, ServiceManager, UnknownApp

__all__ = ["AppLaunchFailed", "ServiceManager", "UnknownApp"]
