"""Import boundaries: which modules load which.

* The layers below the façade (``protocol``, ``actors``, ``supervisor``) never import
  traitlets or the façade (the layout rule: imports flow jupyter_client → supervisor → actors
  → protocol, and traitlets belongs to the façade only).
* Importing the classes most programs use defers trio, asyncio and the actor layers until a
  kernel starts or channels open (import cost; timings in bench/import_bench.py).

Each check runs in a fresh interpreter, since this test process has imported everything.
Moved from test_traits_parity.py.
"""

from __future__ import annotations

import sys

from kernel_helpers import run_json

# -- layering: only the façade imports traitlets -------------------------------------------

_LAYERS_SCRIPT = """
import importlib, json, pkgutil, sys, traceback
import jupyter_client
ROOTS = (jupyter_client.__path__[0].rsplit("/", 1)[0],)
PACKAGE = set(sys.modules)  # what `import jupyter_client` itself loads, before any layer

class Guard:
    '''Refuse traitlets and record which of our modules asked for it.'''
    culprits = []
    def find_spec(self, name, path=None, target=None):
        if name == "traitlets" or name.startswith("traitlets."):
            ours = [f.filename for f in traceback.extract_stack()
                    if f.filename.startswith(ROOTS)]
            self.culprits.append(ours[-1:])
            raise ImportError(f"layering: {name} imported below the facade")
        return None

guard = Guard()
sys.meta_path.insert(0, guard)
imported, failed = [], {}
for pkg_name in ("jupyter_client.protocol", "jupyter_client.actors", "jupyter_client.supervisor"):
    try:
        pkg = importlib.import_module(pkg_name)
    except ImportError as exc:
        failed[pkg_name] = str(exc)
        continue
    imported.append(pkg_name)
    for info in pkgutil.walk_packages(pkg.__path__, pkg_name + "."):
        if info.name.rsplit(".", 1)[-1] == "__main__":
            continue
        try:
            importlib.import_module(info.name)
            imported.append(info.name)
        except ImportError as exc:
            failed[info.name] = str(exc)
facade = sorted(
    m for m in sys.modules
    if m.startswith("jupyter_client.") and m not in PACKAGE
    and m.split(".")[1] not in ("protocol", "actors", "supervisor")
)
print(json.dumps({"imported": imported, "failed": failed, "culprits": guard.culprits,
                  "traitlets": "traitlets" in sys.modules, "facade": facade}))
"""


def test_lower_layers_never_import_traitlets_or_the_facade() -> None:
    result = run_json(sys.executable, "-c", _LAYERS_SCRIPT)
    assert len(result["imported"]) > 30, result["imported"]  # the walk really covered them
    assert not result["failed"], f"modules that needed traitlets: {result['culprits']}"
    assert not result["traitlets"]
    assert result["facade"] == [], "lower layers imported façade modules"


# -- import cost: what a first use loads (timings live in bench/import_bench.py) ------------

_FIRST_USE_SCRIPT = """
import json, sys
from jupyter_client import KernelManager, BlockingKernelClient
from jupyter_client import AsyncMultiKernelManager, AsyncKernelClient
heavy = sorted(
    m for m in sys.modules
    if m in ("trio", "asyncio", "psutil", "importlib.metadata")
    or m.startswith(("jupyter_client.actors.", "jupyter_client.supervisor."))
)
from jupyter_client.provisioning import LocalProvisioner
from importlib.metadata import entry_points
ep = entry_points(group="jupyter_client.kernel_provisioners", name="local-provisioner")
print(json.dumps({"heavy": heavy, "lazy_name": LocalProvisioner.__name__,
                  "entry_point": [e.load() is LocalProvisioner for e in ep]}))
"""


def test_importing_manager_and_client_defers_the_runtime() -> None:
    """Importing the classes most programs (and Jupyter Server) use loads neither trio nor
    asyncio nor the actor and supervisor layers (they load when a kernel starts or channels
    open); the lazily imported ``LocalProvisioner`` is still reachable by name and by its
    entry point."""
    result = run_json(sys.executable, "-c", _FIRST_USE_SCRIPT)
    assert result["heavy"] == [], "loaded at import: " + ", ".join(result["heavy"])
    assert result["lazy_name"] == "LocalProvisioner"
    assert result["entry_point"] == [True]
