"""Abstract base for kernel clients (upstream's ``jupyter_client.clientabc``)."""

from __future__ import annotations

import abc
from typing import Any


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
