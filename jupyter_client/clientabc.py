"""Abstract base for kernel clients (upstream's ``jupyter_client.clientabc``)."""

from __future__ import annotations

import abc
from typing import Any

from jupyter_client._lazy_names import upstream_names


class KernelClientABC(metaclass=abc.ABCMeta):
    """The interface every kernel client offers; KernelClient is registered against it."""

    @property
    @abc.abstractmethod
    def kernel(self) -> Any: ...

    @property
    @abc.abstractmethod
    def shell_channel_class(self) -> type: ...

    @property
    @abc.abstractmethod
    def iopub_channel_class(self) -> type: ...

    @property
    @abc.abstractmethod
    def hb_channel_class(self) -> type: ...

    @property
    @abc.abstractmethod
    def stdin_channel_class(self) -> type: ...

    @property
    @abc.abstractmethod
    def control_channel_class(self) -> type: ...

    # The channels themselves (upstream declares them too; a client has each once started).
    @property
    @abc.abstractmethod
    def shell_channel(self) -> Any: ...

    @property
    @abc.abstractmethod
    def iopub_channel(self) -> Any: ...

    @property
    @abc.abstractmethod
    def stdin_channel(self) -> Any: ...

    @property
    @abc.abstractmethod
    def hb_channel(self) -> Any: ...

    @property
    @abc.abstractmethod
    def control_channel(self) -> Any: ...

    @abc.abstractmethod
    def start_channels(
        self,
        shell: bool = True,
        iopub: bool = True,
        stdin: bool = True,
        hb: bool = True,
        control: bool = True,
    ) -> None: ...

    @abc.abstractmethod
    def stop_channels(self) -> None: ...

    @property
    @abc.abstractmethod
    def channels_running(self) -> bool: ...


# Names upstream's module exposes because it imported them (jupyter_client/_upstream_names.py).
__getattr__, __dir__ = upstream_names(__name__, globals())
