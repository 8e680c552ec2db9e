"""Names upstream 8.10's modules expose that consumers reach for (issue: drop-in defects)."""

from __future__ import annotations

import importlib.metadata

import jupyter_client


def test_submodules_reachable_from_the_package_as_upstream() -> None:
    for name in ("ioloop", "restarter", "ssh"):  # upstream's `import jupyter_client` loads them
        assert name in dir(jupyter_client)
        assert getattr(jupyter_client, name).__name__ == f"jupyter_client.{name}"


def test_factory_entry_point_names_without_their_import_cost() -> None:
    from jupyter_client.provisioning import factory
    from jupyter_client.provisioning.factory import EntryPoint, entry_points

    assert EntryPoint is importlib.metadata.EntryPoint
    assert entry_points is importlib.metadata.entry_points
    assert {"EntryPoint", "entry_points", "KernelProvisionerFactory"} <= set(dir(factory))
