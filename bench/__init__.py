"""`make bench`: the same workloads through our code and upstream's, side by side.

Each section module exposes ``run(ctx: Context) -> list[Row]``. Our side runs in this process;
upstream's side runs in ``.venv-kernel`` (which has upstream jupyter_client) through
``ctx.upstream(script, *args)``, a script in ``bench/upstream/`` that prints one JSON object.
"""
