"""`make run`: the demo. Until the supervisor lands it shows what already works."""

from __future__ import annotations

import sys


def main() -> int:
    import jupyter_client

    print(
        f"jupyter_client {jupyter_client.__version__} (protocol {jupyter_client.protocol_version})"
    )
    print("The supervisor demo (three supervised kernels, one killed and restarted, the status")
    print("table) arrives with the supervisor issue. What works today:")
    from jupyter_client.kernelspec import KernelSpecManager

    specs = KernelSpecManager().get_all_specs()
    for name, info in sorted(specs.items()):
        print(f"  kernelspec {name:<10} {info['spec']['display_name']}  ({info['resource_dir']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
