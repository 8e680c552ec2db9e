"""Jupyter's data, config and runtime directories, computed the way jupyter_core 5.x does.

Why not depend on jupyter_core: it drags in a large application framework for a handful of
pure functions. Kernelspec discovery must find *exactly* the directories upstream finds, so
the rules below (env-var truthiness, user/env/system ordering, venv and conda detection,
platformdirs when ``JUPYTER_PLATFORM_DIRS`` is set) follow jupyter_core's observable
behaviour on Linux and macOS; Windows is handled on a best-effort basis.

Every function re-reads ``os.environ`` on each call (like upstream), except the *system*
path lists, which upstream fixes at import time; we compute them lazily but equally from
the environment, so tests can vary ``JUPYTER_PLATFORM_DIRS``/``XDG_DATA_DIRS`` per call.
"""

from __future__ import annotations

import os
import site
import sys
import tempfile
from pathlib import Path

import platformdirs

__all__ = [
    "APPNAME",
    "ENV_CONFIG_PATH",
    "ENV_JUPYTER_PATH",
    "envset",
    "get_home_dir",
    "jupyter_config_dir",
    "jupyter_config_path",
    "jupyter_data_dir",
    "jupyter_path",
    "jupyter_runtime_dir",
    "prefer_environment_over_user",
    "system_config_path",
    "system_jupyter_path",
    "use_platform_dirs",
]

_FALSY = ("no", "n", "false", "off", "0", "0.0")

# Upstream capitalises the app name only where the platform convention does (Windows, and
# macOS outside Homebrew); platformdirs-based paths use it.
if sys.platform == "win32" or (
    sys.platform == "darwin" and not sys.prefix.startswith("/opt/homebrew")
):
    APPNAME = "Jupyter"
else:
    APPNAME = "jupyter"

ENV_JUPYTER_PATH: list[str] = [str(Path(sys.prefix, "share", "jupyter"))]
ENV_CONFIG_PATH: list[str] = [str(Path(sys.prefix, "etc", "jupyter"))]

_clean_config_dirs: dict[str, str] = {}


def envset(name: str, default: bool = False) -> bool:
    """Truthiness of an env var: unset → ``default``; set → true unless a "no"-like word.

    An empty value counts as *true*, matching jupyter_core.
    """
    if name not in os.environ:
        return default
    return os.environ[name].lower() not in _FALSY


def use_platform_dirs() -> bool:
    """Whether ``JUPYTER_PLATFORM_DIRS`` asks for platformdirs locations."""
    return envset("JUPYTER_PLATFORM_DIRS", False)


def get_home_dir() -> str:
    """The home directory with symlinks resolved (``/home`` may be a link on some systems)."""
    return str(Path("~").expanduser().resolve())


def _owned_by_me(path: str) -> bool:
    """Whether the current user owns ``path`` (or its first existing ancestor).

    Same cascade as upstream: owner name vs login name, then uid, then write access.
    """
    p = Path(path).resolve()
    while not p.exists() and p != p.parent:
        p = p.parent
    try:
        return p.owner() == os.getlogin()
    except Exception:
        pass
    if hasattr(os, "geteuid"):
        try:
            return p.stat().st_uid == os.geteuid()
        except (NotImplementedError, OSError):
            pass
    return os.access(p, os.W_OK)


def prefer_environment_over_user() -> bool:
    """Whether env-level (``sys.prefix``) dirs outrank user-level dirs.

    An explicit ``JUPYTER_PREFER_ENV_PATH`` wins; otherwise an owned virtualenv or an owned,
    non-base conda env prefers the environment.
    """
    if "JUPYTER_PREFER_ENV_PATH" in os.environ:
        return envset("JUPYTER_PREFER_ENV_PATH")
    if sys.prefix != sys.base_prefix and _owned_by_me(sys.prefix):
        return True
    conda_prefix = os.environ.get("CONDA_PREFIX")
    return bool(
        conda_prefix is not None
        and sys.prefix.startswith(conda_prefix)
        and os.environ.get("CONDA_DEFAULT_ENV", "base") != "base"
        and _owned_by_me(sys.prefix)
    )


def jupyter_config_dir() -> str:
    """The user's config dir; ``JUPYTER_NO_CONFIG`` yields a per-process empty temp dir."""
    env = os.environ
    if env.get("JUPYTER_NO_CONFIG"):
        if "cfg" not in _clean_config_dirs:
            _clean_config_dirs["cfg"] = tempfile.mkdtemp(prefix="jupyter-clean-cfg-")
        return _clean_config_dirs["cfg"]
    if env.get("JUPYTER_CONFIG_DIR"):
        return env["JUPYTER_CONFIG_DIR"]
    if use_platform_dirs():
        return platformdirs.user_config_dir(APPNAME, appauthor=False)
    return os.path.join(get_home_dir(), ".jupyter")


def jupyter_data_dir() -> str:
    """The user's data dir (kernelspecs live in its ``kernels`` subdir)."""
    env = os.environ
    if env.get("JUPYTER_DATA_DIR"):
        return env["JUPYTER_DATA_DIR"]
    if use_platform_dirs():
        return platformdirs.user_data_dir(APPNAME, appauthor=False)
    home = get_home_dir()
    if sys.platform == "darwin":
        return str(Path(home, "Library", "Jupyter"))
    if sys.platform == "win32":  # pragma: no cover - best effort
        appdata = env.get("APPDATA")
        if appdata:
            return str(Path(appdata, "jupyter").resolve())
        return os.path.join(jupyter_config_dir(), "data")
    xdg = env.get("XDG_DATA_HOME") or os.path.join(home, ".local", "share")
    return os.path.join(xdg, "jupyter")


def jupyter_runtime_dir() -> str:
    """Where connection files go: ``JUPYTER_RUNTIME_DIR`` or ``<data dir>/runtime``."""
    return os.environ.get("JUPYTER_RUNTIME_DIR") or os.path.join(jupyter_data_dir(), "runtime")


def _win_programdata() -> str | None:  # pragma: no cover - Windows only
    if os.name == "nt" and envset("JUPYTER_USE_PROGRAMDATA"):
        return os.environ.get("PROGRAMDATA")
    return None


def system_jupyter_path() -> list[str]:
    """System-wide data dirs (upstream's ``SYSTEM_JUPYTER_PATH``)."""
    if use_platform_dirs():
        if os.name == "nt" and not envset("JUPYTER_USE_PROGRAMDATA"):  # pragma: no cover
            return [str(Path(sys.prefix, "share", "jupyter"))]
        multi = platformdirs.site_data_dir(APPNAME, appauthor=False, multipath=True)
        return multi.split(os.pathsep)
    if os.name == "nt":  # pragma: no cover
        pd = _win_programdata()
        return [os.path.join(pd, "jupyter")] if pd else [str(Path(sys.prefix, "share", "jupyter"))]
    return ["/usr/local/share/jupyter", "/usr/share/jupyter"]


def system_config_path() -> list[str]:
    """System-wide config dirs (upstream's ``SYSTEM_CONFIG_PATH``)."""
    if use_platform_dirs():
        if os.name == "nt" and not envset("JUPYTER_USE_PROGRAMDATA"):  # pragma: no cover
            return ENV_CONFIG_PATH[:]
        multi = platformdirs.site_config_dir(APPNAME, appauthor=False, multipath=True)
        return multi.split(os.pathsep)
    if os.name == "nt":  # pragma: no cover
        pd = _win_programdata()
        return [str(Path(pd, "jupyter"))] if pd else ENV_CONFIG_PATH[:]
    return ["/usr/local/etc/jupyter", "/etc/jupyter"]


def _user_site_dir(*parts: str) -> str | None:
    """``<site user base>/<parts>`` when the user site is enabled, else None."""
    if not site.ENABLE_USER_SITE:
        return None
    base = site.getuserbase() if hasattr(site, "getuserbase") else site.USER_BASE
    return str(Path(base, *parts)) if base else None


def _layered(
    explicit_var: str, user_first: str, user_site: str | None, env: list[str], system: list[str]
) -> tuple[list[str], list[str], list[str]]:
    """Shared part of ``jupyter_path``/``jupyter_config_path``: explicit, user, env lists."""
    explicit: list[str] = []
    if os.environ.get(explicit_var):
        explicit = [p.rstrip(os.sep) for p in os.environ[explicit_var].split(os.pathsep)]
    user = [user_first]
    if user_site and user_site not in user:
        user.append(user_site)
    env_only = env if env == system else [p for p in env if p not in system]
    return explicit, user, env_only


def jupyter_path(*subdirs: str) -> list[str]:
    """Data search path: ``JUPYTER_PATH``, then user/env (order per preference), then system.

    Only system entries are de-duplicated against what came before, as upstream does.
    """
    system = system_jupyter_path()
    explicit, user, env = _layered(
        "JUPYTER_PATH",
        jupyter_data_dir(),
        _user_site_dir("share", "jupyter"),
        ENV_JUPYTER_PATH,
        system,
    )
    paths = explicit + (env + user if prefer_environment_over_user() else user + env)
    for p in system:
        if p not in paths:
            paths.append(p)
    if subdirs:
        paths = [os.path.join(p, *subdirs) for p in paths]
    return paths


def jupyter_config_path() -> list[str]:
    """Config search path; with ``JUPYTER_NO_CONFIG`` only the empty temp config dir."""
    if os.environ.get("JUPYTER_NO_CONFIG"):
        return [jupyter_config_dir()]
    system = system_config_path()
    explicit, user, env = _layered(
        "JUPYTER_CONFIG_PATH",
        jupyter_config_dir(),
        _user_site_dir("etc", "jupyter"),
        ENV_CONFIG_PATH,
        system,
    )
    paths = explicit + (env + user if prefer_environment_over_user() else user + env)
    if ENV_CONFIG_PATH != system:
        paths.extend(system)
    return paths
