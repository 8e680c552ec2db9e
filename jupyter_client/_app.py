"""The base of our command-line applications: jupyter_core's ``JupyterApp`` plus two additions.

Upstream builds ``jupyter-kernelspec``, ``jupyter-run`` and ``jupyter-kernel`` on jupyter_core's
``JupyterApp``, and so do we: the Jupyter dirs as traits, the config search path, the
``jupyter_config`` file and the app's own ``config_file_name`` (``jupyter run_config`` for
``jupyter-run``), ``--debug``/``--log-level``/``--config``/``-y``/``--generate-config`` and the
command line winning over config files all come from there, so a user's existing Jupyter
config behaves exactly as with upstream. On top of it:

* :attr:`JupyterApp.config_file_aliases`: the ``jupyter_<app>_config`` names people expect,
  which upstream never reads, loaded after the app's own file (the command line still wins);
  and an explicit ``--config`` file that does not exist is logged (traitlets skips it
  silently);
* :meth:`JupyterApp.dispatch`: an app's ``start`` asks it whether this run hands over to a
  subcommand or only writes the default config, and returns when it did, instead of letting
  jupyter_core's ``NoStart`` escape from ``start`` (code that runs our apps in-process and calls
  ``start()`` itself would otherwise see that exception).
"""

from __future__ import annotations

import os
from typing import ClassVar

from jupyter_core.application import JupyterApp as _CoreJupyterApp
from jupyter_core.application import NoStart, base_aliases, base_flags
from traitlets.config.loader import ConfigFileNotFound

__all__ = ["JupyterApp", "base_aliases", "base_flags"]


class JupyterApp(_CoreJupyterApp):
    """jupyter_core's ``JupyterApp`` with config file aliases and a ``dispatch`` step."""

    #: Extra config file base names read after ``config_file_name`` (see the module docstring).
    config_file_aliases: ClassVar[tuple[str, ...]] = ()

    def load_config_file(self, suppress_errors: bool = True) -> None:  # type: ignore[override]
        """jupyter_core's files (``jupyter_config``, then the app's file or ``--config``), then
        the app's :attr:`config_file_aliases`, each overriding the one before."""
        super().load_config_file(suppress_errors)
        if self.config_file:
            if not any(os.path.isfile(self.config_file + ext) for ext in ("", ".py", ".json")):
                self.log.warning("Config file not found: %s", self.config_file)
            return
        for name in self.config_file_aliases:
            # the base class's loader, by name: jupyter_core's would load its own names again
            try:
                super(_CoreJupyterApp, self).load_config_file(name, path=self.config_file_paths)
            except ConfigFileNotFound:
                self.log.debug("Config file not found, skipping: %s", name)
            except Exception:
                if not suppress_errors or self.raise_config_file_errors:
                    raise
                self.log.warning("Error loading config file: %s", name, exc_info=True)

    def dispatch(self) -> bool:
        """Run the subcommand or write the default config, if asked; True if it did."""
        if not self._dispatching:
            return False
        try:
            _CoreJupyterApp.start(self)
        except NoStart:
            pass
        return True

    def start(self) -> None:
        """Run the selected subcommand, if any, or write the default config file."""
        self.dispatch()
