"""Names whose behaviour lands in a later issue: importable now, loud when used.

A consumer importing one of these gets the name it expects; instantiating or calling it raises
``NotImplementedError`` naming the area that will provide it. Never a silent stub.
"""

from __future__ import annotations

from typing import Any, NoReturn

AREAS = {
    "lifecycle": "kernel lifecycle under supervision (managers, provisioners, restarter)",
    "clients": "the trio actor core and kernel clients",
    "supervisor": "the supervisor service and status CLI",
}


def _raise(name: str, area: str) -> NoReturn:
    raise NotImplementedError(
        f"jupyter_client.{name} is not implemented yet: it arrives with {AREAS[area]}"
    )


def pending_class(qualname: str, area: str, module: str, base: type = object) -> type:
    """A class that can be imported, subclassed and type-checked against, but not built."""

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        _raise(f"{module}.{qualname}", area)

    return type(qualname, (base,), {"__init__": __init__, "__module__": f"jupyter_client.{module}"})


def pending_function(name: str, area: str, module: str) -> Any:
    def fn(*args: Any, **kwargs: Any) -> NoReturn:
        _raise(f"{module}.{name}", area)

    fn.__name__ = name
    fn.__qualname__ = name
    fn.__module__ = f"jupyter_client.{module}"
    return fn
