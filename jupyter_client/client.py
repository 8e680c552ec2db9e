"""Upstream's ``jupyter_client.client``: ``KernelClient``, a thin handle over channel actors.

The handle builds and signs requests (``session.msg`` + ``serialize`` in the caller), posts the
frames to the channel actors, and reads replies from their queues. Its multi-step operations
(``_recv_reply``, ``wait_for_ready``, ``execute_interactive``) are written once, as coroutines
over four primitives (:meth:`KernelClient._get`, ``_wait_any``, ``_sleep``, ``_resolve``).
The async client implements them by awaiting (trio or asyncio); the blocking client by
blocking, so its coroutines never suspend and :func:`drive` runs them to completion in the
caller's thread with no event loop and no thread hop. Hooks therefore run in the caller's
thread, as upstream's do.
"""

from __future__ import annotations

import queue
import sys
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from getpass import getpass
from typing import TYPE_CHECKING, Any, TypeVar

import zmq
from traitlets import Integer, Type, default

from jupyter_client._errors import KernelDiedError
from jupyter_client._interactive import execute_interactive
from jupyter_client._lazy_names import upstream_names
from jupyter_client._ready import wait_for_ready
from jupyter_client.channels import _Link
from jupyter_client.channelsabc import ChannelABC, HBChannelABC
from jupyter_client.clientabc import KernelClientABC
from jupyter_client.connect import ConnectionFileMixin
from jupyter_client.protocol.version import protocol_version_info

# The channel actors (and trio) are imported when a client first starts channels, so that
# importing a client class stays cheap (bench/import_bench.py).
if TYPE_CHECKING:
    from jupyter_client.actors.client import KernelChannels
    from jupyter_client.actors.runtime import Home
    from jupyter_client.actors.xqueue import CrossQueue

T = TypeVar("T")
Msg = dict[str, Any]

__all__ = ["KernelClient", "drive", "reqrep", "validate_string_dict"]


def drive(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends (the blocking client's primitives) to its end."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    coro.close()
    raise RuntimeError("a blocking jupyter_client operation tried to suspend (a bug)")


def prompt_for_input(content: dict[str, Any]) -> str | None:
    """Ask the terminal for what an ``input_request`` wants (upstream's default stdin hook):
    hidden for passwords, ``"\x04"`` on EOF, None (send nothing) on Ctrl-C."""
    prompt = getpass if content.get("password") else input
    try:
        return prompt(content["prompt"])
    except EOFError:
        return "\x04"
    except KeyboardInterrupt:
        print()
        return None


def validate_string_dict(dct: dict[str, str]) -> None:
    """Raise ValueError unless ``dct`` maps str to str (upstream's check for expressions)."""
    for k, v in dct.items():
        if not isinstance(k, str):
            raise ValueError(f"key {k!r} in dict must be a string")
        if not isinstance(v, str):
            raise ValueError(f"value {v!r} in dict must be a string")


def reqrep(wrapped: Callable[..., Any], meth: Callable[..., str], channel: str = "shell") -> Any:
    """Add upstream's ``reply=False, timeout=None`` keywords to a request method."""

    def wrapper(self: KernelClient, *args: Any, **kwargs: Any) -> Any:
        reply = kwargs.pop("reply", False)
        timeout = kwargs.pop("timeout", None)
        msg_id = meth(self, *args, **kwargs)
        if not reply:
            return msg_id
        return wrapped(self, msg_id, timeout=timeout, channel=channel)

    wrapper.__name__ = meth.__name__
    wrapper.__qualname__ = meth.__qualname__
    wrapper.__doc__ = meth.__doc__
    return wrapper


class KernelClient(ConnectionFileMixin):
    """Communicates with a single kernel; see :class:`BlockingKernelClient` and
    :class:`AsyncKernelClient` for the two reading styles."""

    # As upstream: the base class names only the ABCs; each concrete client narrows them
    # (typed Any so the narrowing redeclarations type-check).
    shell_channel_class: Any = Type(ChannelABC)
    iopub_channel_class: Any = Type(ChannelABC)
    stdin_channel_class: Any = Type(ChannelABC)
    control_channel_class: Any = Type(ChannelABC)
    hb_channel_class: Any = Type(HBChannelABC)

    iopub_max_queued = Integer(
        1000,
        min=0,
        config=True,
        help="IOPub messages kept for a reader that does not keep up, per reader (ours; "
        "upstream's bound is zmq's high-water mark of 1000). Beyond it the oldest are dropped, "
        "counted and logged; 0 keeps everything.",
    )

    @default("context")
    def _context_default(self) -> zmq.Context[Any]:
        # Our channels own their sockets; this context only serves ``connect_*`` callers, so
        # it is the process-wide one (upstream makes one per client), created on first use.
        return zmq.Context.instance()

    allow_stdin: bool = True
    ioloop = None

    # Which home hosts the actors: the blocking client always uses the background runtime;
    # the async client uses the caller's trio run under trio, the runtime under asyncio.
    _home_in_callers_run = False

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._channels: KernelChannels | None = None
        self._home: Home | None = None
        self._handles: dict[str, Any] = {}
        self._stopped = False
        self._kernel_info: dict[str, Any] | None = None

    # -- channels -----------------------------------------------------------------------
    def _ensure_channels(self, **wanted: bool) -> KernelChannels:
        if self._channels is not None:
            return self._channels
        if self._stopped:
            raise RuntimeError("this client's channels were stopped; create a new client")
        from jupyter_client.actors.client import KernelChannels
        from jupyter_client.actors.runtime import home_for_caller, runtime_home

        home = home_for_caller() if self._home_in_callers_run else runtime_home()
        info = dict(self.get_connection_info())
        channels = KernelChannels(
            self.session,
            info,
            identity=self.session.bsession,
            time_to_dead=float(self.hb_channel_class.time_to_dead),
            iopub_max_queued=self.iopub_max_queued,
            **wanted,
        )
        self._home = home
        self._channels = channels
        home.spawn(channels.run, name="kernel-channels")
        return channels

    def _handle(self, name: str) -> Any:
        handle = self._handles.get(name)
        if handle is not None:
            return handle
        channels = self._ensure_channels()
        assert self._home is not None
        link = _Link(self._home, channels.post, self.session)
        if name == "hb":
            if channels.hb is None:
                raise RuntimeError("the heartbeat channel was not started")
            handle = self.hb_channel_class(channels.hb, link)
        else:
            q: CrossQueue[Msg] | None
            if name == "iopub":
                q = channels.iopub.queue if channels.iopub is not None else None
            else:
                actor = channels.requests.get(name)
                q = actor.queue if actor is not None else None
            if q is None:
                raise RuntimeError(f"the {name} channel was not started")
            cls = getattr(self, f"{name}_channel_class")
            handle = cls(q, name, link)
        self._handles[name] = handle
        return handle

    @property
    def shell_channel(self) -> Any:
        return self._handle("shell")

    @property
    def iopub_channel(self) -> Any:
        return self._handle("iopub")

    @property
    def stdin_channel(self) -> Any:
        return self._handle("stdin")

    @property
    def control_channel(self) -> Any:
        return self._handle("control")

    @property
    def hb_channel(self) -> Any:
        return self._handle("hb")

    def start_channels(
        self,
        shell: bool = True,
        iopub: bool = True,
        stdin: bool = True,
        hb: bool = True,
        control: bool = True,
    ) -> None:
        """Start the channel actors (iopub first, as upstream) and allow stdin if asked.

        This only spawns the actors in their home and returns: it never waits for them, so it
        stays cheap and never blocks an asyncio or trio caller's loop. Every channel handle is
        nonetheless usable at once (``jupyter console`` calls ``hb_channel.unpause()`` on the
        next line): sends wait in the channel's outbox until its socket exists, reads wait on
        queues built with the actors, heartbeat pauses set the actor's state in its thread
        whether or not it runs yet, and ``is_alive()`` is true from here until the stop.
        """
        self._ensure_channels(shell=shell, iopub=iopub, stdin=stdin, hb=hb, control=control)
        self.allow_stdin = stdin
        wanted = {"iopub": iopub, "shell": shell, "stdin": stdin, "hb": hb, "control": control}
        for name, on in wanted.items():
            if on:
                self._handle(name).start()

    def stop_channels(self) -> None:
        """Stop every channel and release its sockets and context (synchronously, except
        inside the trio run that hosts them, where ``async with`` / ``aclose`` waits)."""
        channels, home = self._channels, self._home
        for handle in self._handles.values():
            handle.stop()
        if channels is None or home is None:
            return
        self._channels = None
        self._stopped = True
        if home.is_current():
            channels.cancel()
        else:
            home.call_blocking(_stop_actor, channels)

    @property
    def channels_running(self) -> bool:
        return any(h.is_alive() for h in self._handles.values())

    def _post(self, channel: str, msg: Msg) -> str:
        self._handle(channel).send(msg)
        return str(msg["header"]["msg_id"])

    # -- requests (plain functions returning the msg_id, as upstream) ---------------------
    def execute(
        self,
        code: str,
        silent: bool = False,
        store_history: bool = True,
        user_expressions: dict[str, str] | None = None,
        allow_stdin: bool | None = None,
        stop_on_error: bool = True,
    ) -> str:
        """Execute ``code`` in the kernel; returns the msg_id of the request."""
        content = self._execute_content(
            code, silent, store_history, user_expressions, allow_stdin, stop_on_error
        )
        return self._post("shell", self.session.msg("execute_request", content))

    def _execute_content(
        self,
        code: str,
        silent: bool = False,
        store_history: bool = True,
        user_expressions: dict[str, str] | None = None,
        allow_stdin: bool | None = None,
        stop_on_error: bool = True,
    ) -> dict[str, Any]:
        if user_expressions is None:
            user_expressions = {}
        if allow_stdin is None:
            allow_stdin = self.allow_stdin
        if not isinstance(code, str):
            raise ValueError(f"code {code!r} must be a string")
        validate_string_dict(user_expressions)
        content = {
            "code": code,
            "silent": silent,
            "store_history": store_history,
            "user_expressions": user_expressions,
            "allow_stdin": allow_stdin,
            "stop_on_error": stop_on_error,
        }
        return content

    def complete(self, code: str, cursor_pos: int | None = None) -> str:
        if cursor_pos is None:
            cursor_pos = len(code)
        content = {"code": code, "cursor_pos": cursor_pos}
        return self._post("shell", self.session.msg("complete_request", content))

    def inspect(self, code: str, cursor_pos: int | None = None, detail_level: int = 0) -> str:
        if cursor_pos is None:
            cursor_pos = len(code)
        content = {"code": code, "cursor_pos": cursor_pos, "detail_level": detail_level}
        return self._post("shell", self.session.msg("inspect_request", content))

    def history(
        self,
        raw: bool = True,
        output: bool = False,
        hist_access_type: str = "range",
        **kwargs: Any,
    ) -> str:
        if hist_access_type == "range":
            kwargs.setdefault("session", 0)
            kwargs.setdefault("start", 0)
        content = dict(raw=raw, output=output, hist_access_type=hist_access_type, **kwargs)
        return self._post("shell", self.session.msg("history_request", content))

    def kernel_info(self) -> str:
        return self._post("shell", self.session.msg("kernel_info_request"))

    def comm_info(self, target_name: str | None = None) -> str:
        content = {} if target_name is None else {"target_name": target_name}
        return self._post("shell", self.session.msg("comm_info_request", content))

    def is_complete(self, code: str) -> str:
        return self._post("shell", self.session.msg("is_complete_request", {"code": code}))

    def input(self, string: str) -> None:
        """Send an ``input_reply`` on stdin (returns None, as upstream)."""
        self._post("stdin", self.session.msg("input_reply", {"value": string}))

    def shutdown(self, restart: bool = False) -> str:
        """Ask the kernel to shut down, on the control channel."""
        msg = self.session.msg("shutdown_request", {"restart": restart})
        return self._post("control", msg)

    # -- subshells (protocol 5.5; upstream has no helpers for them) ----------------------
    @property
    def supports_subshells(self) -> bool | None:
        """Whether the kernel advertised ``kernel subshells`` in its ``kernel_info_reply``
        (None until a reply was seen: call ``wait_for_ready`` or ``kernel_info`` first)."""
        if self._kernel_info is None:
            return None
        return "kernel subshells" in self._kernel_info.get("supported_features", [])

    def _require_subshells(self) -> None:
        supported = self.supports_subshells
        if supported is None:
            raise RuntimeError(
                "subshell support is unknown: wait_for_ready() or a kernel_info reply must come "
                "first"
            )
        if not supported:
            features = (self._kernel_info or {}).get("supported_features", [])
            raise RuntimeError(
                "this kernel does not support subshells (its kernel_info_reply lists "
                f"supported_features={features!r}, without 'kernel subshells')"
            )

    def create_subshell(self) -> str:
        """Ask for a new subshell (control channel); the reply carries its ``subshell_id``."""
        self._require_subshells()
        return self._post("control", self.session.msg("create_subshell_request"))

    def list_subshell(self) -> str:
        self._require_subshells()
        return self._post("control", self.session.msg("list_subshell_request"))

    def delete_subshell(self, subshell_id: str) -> str:
        self._require_subshells()
        msg = self.session.msg("delete_subshell_request", {"subshell_id": subshell_id})
        return self._post("control", msg)

    def execute_in_subshell(self, subshell_id: str, code: str, **kwargs: Any) -> str:
        """``execute`` routed to a subshell (``header.subshell_id``); returns the msg_id."""
        self._require_subshells()
        msg = self.session.msg("execute_request", self._execute_content(code, **kwargs))
        msg["header"]["subshell_id"] = subshell_id
        return self._post("shell", msg)

    def _handle_kernel_info_reply(self, msg: Msg) -> None:
        """Remember what the kernel supports; adapt to its major protocol version."""
        self._kernel_info = msg.get("content", {})
        version = msg.get("content", {}).get("protocol_version", "")
        try:
            major = int(str(version).split(".")[0])
        except ValueError:
            return
        if major != protocol_version_info[0]:
            self.session.adapt_version = major

    # -- the reading primitives (overridden by the blocking and async clients) ------------
    async def _get(self, q: CrossQueue[Msg], timeout: float | None) -> Msg:
        raise NotImplementedError

    async def _wait_any(self, queues: list[CrossQueue[Msg]], timeout: float | None) -> bool:
        raise NotImplementedError

    async def _sleep(self, seconds: float) -> None:
        raise NotImplementedError

    async def _resolve(self, value: Any) -> Any:
        """Await ``value`` if it is awaitable (a hook's result)."""
        raise NotImplementedError

    def _queue(self, name: str) -> CrossQueue[Msg]:
        return self._handle(name)._queue

    # -- operations written once ------------------------------------------------------------
    @contextmanager
    def _death_alarm(self) -> Iterator[CrossQueue[Any] | None]:
        """A queue that receives the ``died`` event of this client's kernel while the block
        runs; None when the client's parent is not one of our managers (then only the
        caller's timeout ends a wait, as upstream)."""
        from jupyter_client._manager_lifecycle import supervised

        handle = supervised(getattr(self, "parent", None))
        if handle is None:
            yield None
            return
        watch = handle.watch_deaths
        from jupyter_client.actors.xqueue import CrossQueue

        alarm: CrossQueue[Any] = CrossQueue()
        watch(alarm.put, True)
        try:
            yield alarm
        finally:
            watch(alarm.put, False)

    async def _async_recv_reply(
        self,
        msg_id: str,
        timeout: float | None = None,
        channel: str = "shell",
        alarm: CrossQueue[Any] | None = None,
    ) -> Msg:
        """The reply to ``msg_id`` on ``channel``; ``TimeoutError`` after ``timeout``.

        Unlike upstream, messages for other requests met on the way are not discarded: they
        go back to the head of the queue, in order, for the next reader. And unlike upstream,
        a kernel (of our managers) that dies meanwhile ends the wait with a RuntimeError
        naming the exit, instead of a hang (pain point: dead kernels, callers wait forever).
        """
        if alarm is None:
            with self._death_alarm() as own:
                return await self._recv_reply_or_death(msg_id, timeout, channel, own)
        return await self._recv_reply_or_death(msg_id, timeout, channel, alarm)

    async def _recv_reply_or_death(
        self, msg_id: str, timeout: float | None, channel: str, alarm: CrossQueue[Any] | None
    ) -> Msg:
        q = self._queue(channel)
        deadline = None if timeout is None else time.monotonic() + timeout
        skipped: list[Msg] = []
        try:
            while True:
                remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
                if alarm is None:
                    try:
                        msg = await self._get(q, remaining)
                    except queue.Empty:
                        raise TimeoutError("Timeout waiting for reply") from None
                else:
                    if not len(q) and q.closed is None:
                        if not await self._wait_any([q, alarm], remaining):
                            raise TimeoutError("Timeout waiting for reply")
                        if not len(q) and q.closed is None:
                            if len(alarm):
                                raise KernelDiedError.from_alarm(alarm, f"request {msg_id}")
                            continue  # woken, but another reader took it
                    msg = q.get_nowait()  # raises the reason if the channel closed
                if msg.get("parent_header", {}).get("msg_id") == msg_id:
                    return msg
                skipped.append(msg)
        finally:
            q.put_front(skipped)

    async def _async_is_alive(self) -> bool:
        from jupyter_client.manager import KernelManager

        parent = getattr(self, "parent", None)
        if isinstance(parent, KernelManager):
            return bool(await self._resolve(parent.is_alive()))
        if self._channels is not None and self._channels.hb is not None:
            return bool(self.hb_channel.is_beating())
        return True

    # Written once, as coroutines over the client's primitives, in modules of their own.
    _async_wait_for_ready = wait_for_ready
    _async_execute_interactive = execute_interactive

    # -- default hooks ------------------------------------------------------------------
    def _output_hook_default(self, msg: Msg) -> None:
        """Print output the way a terminal would (upstream's default output hook)."""
        msg_type = msg["header"]["msg_type"]
        content = msg["content"]
        if msg_type == "stream":
            stream = getattr(sys, content["name"], sys.stdout)
            stream.write(content["text"])
        elif msg_type in ("display_data", "execute_result"):
            sys.stdout.write(content["data"].get("text/plain", ""))
        elif msg_type == "error":
            sys.stderr.write("\n".join(content["traceback"]))

    def _output_hook_kernel(self, session: Any, socket: Any, parent_header: Any, msg: Msg) -> None:
        """Re-publish output on a kernel's IOPub (when running inside a kernel)."""
        msg_type = msg["header"]["msg_type"]
        if msg_type in ("display_data", "execute_result", "error"):
            session.send(socket, msg_type, msg["content"], parent=parent_header)
        else:
            self._output_hook_default(msg)


async def _stop_actor(actor: KernelChannels) -> None:
    await actor.stop()


KernelClientABC.register(KernelClient)


# Names upstream's module exposes because it imported them (jupyter_client/_upstream_names.py).
__getattr__, __dir__ = upstream_names(__name__, globals())
