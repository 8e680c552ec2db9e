"""Abstract base for kernel managers (upstream's ``jupyter_client.managerabc``)."""

from __future__ import annotations

import abc
from typing import Any


class KernelManagerABC(metaclass=abc.ABCMeta):
    """The interface every kernel manager offers; KernelManager is registered against it."""

    @property
    @abc.abstractmethod
    def kernel(self) -> Any: ...

    @abc.abstractmethod
    def start_kernel(self, **kw: Any) -> Any: ...

    @abc.abstractmethod
    def shutdown_kernel(self, now: bool = False, restart: bool = False) -> Any: ...

    @abc.abstractmethod
    def restart_kernel(self, now: bool = False, **kw: Any) -> Any: ...

    @property
    @abc.abstractmethod
    def has_kernel(self) -> bool: ...

    @abc.abstractmethod
    def interrupt_kernel(self) -> Any: ...

    @abc.abstractmethod
    def signal_kernel(self, signum: int) -> Any: ...

    @abc.abstractmethod
    def is_alive(self) -> Any: ...
