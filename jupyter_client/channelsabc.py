"""Abstract bases for channels (upstream's ``jupyter_client.channelsabc``)."""

from __future__ import annotations

import abc


class ChannelABC(metaclass=abc.ABCMeta):
    """A channel to a kernel: start, stop, and whether it is alive."""

    @abc.abstractmethod
    def start(self) -> None: ...

    @abc.abstractmethod
    def stop(self) -> None: ...

    @abc.abstractmethod
    def is_alive(self) -> bool: ...


class HBChannelABC(ChannelABC):
    """The heartbeat channel, which can also be paused and asked whether it beats."""

    @property
    @abc.abstractmethod
    def time_to_dead(self) -> float: ...

    @abc.abstractmethod
    def pause(self) -> None: ...

    @abc.abstractmethod
    def unpause(self) -> None: ...

    @abc.abstractmethod
    def is_beating(self) -> bool: ...
