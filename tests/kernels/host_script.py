"""A host process for the parent-death test: a KernelHost with N minimal kernels.

Prints the kernels' pids on one line once all are running, then waits to be killed. Run as
``python host_script.py DIRECTORY N`` (``tests/`` must be importable: the test sets PYTHONPATH).
"""

from __future__ import annotations

import sys
from pathlib import Path

import trio
from kernels.support import KernelFiles

from jupyter_client.supervisor.host import KernelHost
from jupyter_client.supervisor.kernel import KernelActor


async def main(directory: Path, n: int) -> None:
    async with KernelHost() as host:
        for i in range(n):
            actor = KernelActor(f"k{i}", KernelFiles(directory).prepare(), ctx=host.ctx)
            await host.add(actor)
            await actor.start()
        print(" ".join(str(host.get(kid).pid) for kid in host.kernel_ids), flush=True)
        await trio.sleep_forever()


if __name__ == "__main__":
    trio.run(main, Path(sys.argv[1]), int(sys.argv[2]))
