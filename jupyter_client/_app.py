"""The base of our command-line applications: Jupyter dirs, config files, common options.

Upstream builds ``jupyter-kernelspec``, ``jupyter-run`` and ``jupyter-kernel`` on jupyter_core's
``JupyterApp``. We do not depend on jupyter_core (a large framework for what these commands
use), so :class:`JupyterApp` here is the part of it they need, with the same observable
behaviour, so that a user's existing Jupyter config keeps working:

* the Jupyter dirs as traits (``config_dir``, ``data_dir``, ``runtime_dir``, ``jupyter_path``),
  computed by :mod:`jupyter_core.paths`, as for upstream;
* config files, each as ``<name>.py`` and ``<name>.json`` in every dir of the config path
  (``JUPYTER_CONFIG_DIR`` or ``~/.jupyter``, ``JUPYTER_CONFIG_PATH``, ``{sys.prefix}/etc/jupyter``,
  ``/usr/local/etc/jupyter``, ``/etc/jupyter``; earlier dirs win). Loaded in this order, each
  overriding the one before: ``jupyter_config``; the app's ``config_file_name`` (derived from
  ``name`` like upstream, e.g. ``jupyter run_config`` for ``jupyter-run``) or the ``--config``
  file instead; then the app's :attr:`JupyterApp.config_file_aliases` (our addition: the
  ``jupyter_<app>_config`` names people expect, which upstream never reads); and last the
  command line, which always wins;
* ``--debug``, ``--log-level``, ``--config``, ``-y``, ``--generate-config``, and traitlets' own
  ``--show-config``/``--show-config-json``/``--help-all``.

jupyter_core's dispatch to external ``jupyter-<name>-<sub>`` commands and its IPython 3 config
migration are left out: none of these apps has external subcommands, and IPython 3 is long gone.
"""

from __future__ import annotations

import logging
import os
import sys
from copy import deepcopy
from pathlib import Path
from typing import Any, ClassVar

from jupyter_core.paths import (
    jupyter_config_dir,
    jupyter_config_path,
    jupyter_data_dir,
    jupyter_path,
    jupyter_runtime_dir,
)
from traitlets import Bool, List, Unicode, observe
from traitlets.config import Application, catch_config_error
from traitlets.config.loader import ConfigFileNotFound

__all__ = ["BASE_CONFIG_NAME", "JupyterApp", "base_aliases", "base_flags", "ensure_dir"]

# Read by every app before its own file: the place for settings shared by all Jupyter apps.
BASE_CONFIG_NAME = "jupyter_config"

base_aliases: dict[str, Any] = dict(Application.aliases)
base_aliases.update({"log-level": "Application.log_level", "config": "JupyterApp.config_file"})

base_flags: dict[str, Any] = dict(Application.flags)
base_flags.update(
    {
        "debug": (
            {"Application": {"log_level": logging.DEBUG}},
            "set log level to logging.DEBUG (maximize logging output)",
        ),
        "generate-config": (
            {"JupyterApp": {"generate_config": True}},
            "generate default config file",
        ),
        "y": (
            {"JupyterApp": {"answer_yes": True}},
            "Answer yes to any questions instead of prompting.",
        ),
    }
)


def ensure_dir(path: str | Path, mode: int = 0o700) -> None:
    """Create ``path`` (and parents) if missing; private by default, like jupyter_core."""
    os.makedirs(path, mode=mode, exist_ok=True)


class JupyterApp(Application):
    """Stand-in for jupyter_core's ``JupyterApp``: Jupyter dirs, config files, base options."""

    name = "jupyter"  # subclasses override; it names the app's config file
    description = "A Jupyter Application"
    aliases = base_aliases
    flags = base_flags

    #: Extra config file base names read after ``config_file_name`` (see the module docstring).
    config_file_aliases: ClassVar[tuple[str, ...]] = ()

    def _log_level_default(self) -> int:
        return logging.INFO

    jupyter_path = List(Unicode())

    def _jupyter_path_default(self) -> list[str]:
        return jupyter_path()

    config_dir = Unicode()

    def _config_dir_default(self) -> str:
        return jupyter_config_dir()

    data_dir = Unicode()

    def _data_dir_default(self) -> str:
        d = jupyter_data_dir()
        ensure_dir(d)
        return d

    runtime_dir = Unicode()

    def _runtime_dir_default(self) -> str:
        d = jupyter_runtime_dir()
        ensure_dir(d)
        return d

    @observe("runtime_dir")
    def _runtime_dir_changed(self, change: Any) -> None:
        # Connection files are secrets: whatever dir is configured is created private.
        ensure_dir(change["new"])

    generate_config = Bool(False, config=True, help="Generate default config file.")
    config_file_name = Unicode(config=True, help="Specify a config file to load.")

    def _config_file_name_default(self) -> str:
        return self.name.replace("-", "_") + "_config" if self.name else ""

    config_file = Unicode(config=True, help="Full path of a config file.")
    answer_yes = Bool(False, config=True, help="Answer yes to any prompts.")
    # jupyter_core's name for an external ``jupyter-<name>`` command to dispatch to. These
    # apps have no external subcommands, but hosts reading the trait find it.
    subcommand = Unicode()

    @property
    def config_file_paths(self) -> list[str]:
        """The config search path, highest priority first, with our config dir in it."""
        paths = jupyter_config_path()
        if self.config_dir not in paths:
            paths.insert(0, self.config_dir)
        return paths

    @property
    def _dispatching(self) -> bool:
        """True when this run does something else than the app's own work (no kernel!)."""
        return bool(self.generate_config or self.subapp or self.subcommand)

    def _load_named(self, name: str, path: str | list[str], suppress_errors: bool) -> None:
        """Load ``name``.py/.json from ``path``; absent is fine, broken is a warning or error."""
        try:
            super().load_config_file(name, path=path)
        except ConfigFileNotFound:
            self.log.debug("Config file not found, skipping: %s", name)
        except Exception:
            if not suppress_errors or self.raise_config_file_errors:
                raise
            self.log.warning("Error loading config file: %s", name, exc_info=True)

    def load_config_file(self, suppress_errors: bool = True) -> None:  # type: ignore[override]
        """Load ``jupyter_config``, then the app's file (or ``--config``), then its aliases.

        A missing file is skipped; a broken one is logged as a warning (with the file's
        name) unless ``suppress_errors`` is false or ``raise_config_file_errors`` is set.
        """
        paths = self.config_file_paths
        self.log.debug("Searching %s for config files", paths)
        try:
            super().load_config_file(BASE_CONFIG_NAME, path=paths)
        except ConfigFileNotFound:
            self.log.debug("Config file %s not found", BASE_CONFIG_NAME)
        if self.config_file:
            directory, name = os.path.split(self.config_file)
            if not os.path.isfile(self.config_file) and not any(
                os.path.isfile(self.config_file + ext) for ext in (".py", ".json")
            ):
                # traitlets would skip it silently; an explicit --config deserves a word.
                self.log.warning("Config file not found: %s", self.config_file)
            self._load_named(name, directory or ".", suppress_errors)
            return
        for name in (self.config_file_name, *self.config_file_aliases):
            if name and name != BASE_CONFIG_NAME:
                self._load_named(name, paths, suppress_errors)

    @catch_config_error
    def initialize(self, argv: Any = None) -> None:
        """Parse the command line, then load config files; the command line always wins."""
        self.parse_command_line(sys.argv[1:] if argv is None else argv)
        if self._dispatching:
            return  # a subcommand or --generate-config: config files are not read
        cl_config = deepcopy(self.config)
        self.load_config_file()
        self.update_config(cl_config)

    def dispatch(self) -> bool:
        """Run the subcommand or write the default config, if asked; True if it did.

        Apps call it first in ``start`` and return when it did something, where
        jupyter_core raises its ``NoStart`` exception instead.
        """
        if self.subapp is not None:
            self.subapp.start()
            return True
        if self.generate_config:
            self.write_default_config()
            return True
        return False

    def start(self) -> None:
        """Run the selected subcommand, if any, or write the default config file."""
        self.dispatch()

    def write_default_config(self) -> None:
        """Write this app's commented default config (``--config`` path, else ``config_dir``),
        asking before overwriting an existing file unless ``-y``."""
        path = Path(self.config_file or Path(self.config_dir, self.config_file_name + ".py"))
        if path.exists() and not self.answer_yes:
            try:
                answer = input(f"Overwrite {str(path)!r} with default config? [y/N]")
            except (EOFError, KeyboardInterrupt):
                print("")
                answer = ""
            if not answer.strip().lower().startswith("y"):
                return
        print(f"Writing default config to: {str(path)!r}")
        ensure_dir(path.parent)
        path.write_text(self.generate_config_file(), encoding="utf-8")
