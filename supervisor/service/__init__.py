"""The ``jupyter-supervisor`` daemon: kernels hosted by a process of their own.

The in-process supervision tree (``supervisor/``: the kernel lifecycle, its actor, the host and
the restart policy) is what every manager runs on; this package is what only the daemon adds:
the service (:mod:`.daemon`), its control socket (:mod:`.control`), the state file
(:mod:`.state`) and re-adoption after a crash (:mod:`.readoption`, :mod:`.record`), the status
table (:mod:`.status`), the launcher of its kernels (:mod:`.launching`), the orphan census
(:mod:`.orphans`) and the command line (:mod:`.cli`, :mod:`.cli_args`). Nothing outside this
package imports it except the CLI entry point and the demo.
"""
