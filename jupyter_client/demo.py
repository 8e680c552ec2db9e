"""`make run`: the supervisor demo, end to end through the real ``jupyter-supervisor`` CLI.

It is an application, not part of the supervisor layer, so it may use the public façade
(``jupyter_client.BlockingKernelClient``) to run code on the kernels. Steps: a throw-away
runtime dir; ``serve`` in the background; three ``python3`` kernels; code on each; SIGKILL
one; watch the policy restart it; the status table; a clean shutdown, checked (no process
left, runtime dir empty).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from typing import Any

import psutil

KERNELS = ("alpha", "beta", "gamma")


def _cli() -> list[str]:
    script = os.path.join(os.path.dirname(sys.executable), "jupyter-supervisor")
    if os.path.exists(script):
        return [script]
    return [sys.executable, "-m", "jupyter_client.supervisor.service.cli"]  # pragma: no cover


class Demo:
    def __init__(self) -> None:
        self.tmp = tempfile.mkdtemp(prefix="jupyter-supervisor-demo-")
        self.runtime = os.path.join(self.tmp, "runtime")
        self.env = dict(os.environ, JUPYTER_RUNTIME_DIR=self.runtime)
        self.cli = _cli()
        self.t0 = time.monotonic()
        self.serve: subprocess.Popen[str] | None = None

    def say(self, text: str) -> None:
        print(f"[{time.monotonic() - self.t0:5.1f}s] {text}", flush=True)

    def run_cli(self, *args: str, show: bool = True, check: bool = True) -> str:
        if show:
            print(f"  $ jupyter-supervisor {' '.join(args)}", flush=True)
        out = subprocess.run([*self.cli, *args], env=self.env, capture_output=True, text=True,
                             timeout=120)  # fmt: skip
        if check and out.returncode != 0:
            raise RuntimeError(f"jupyter-supervisor {' '.join(args)} failed: {out.stderr}")
        if show and out.stdout.strip():
            for line in out.stdout.rstrip().splitlines():
                print(f"    {line}")
        return out.stdout

    def status(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = json.loads(self.run_cli("status", "--json", show=False))
        return rows

    def start_supervisor(self) -> None:
        self.say(f"runtime dir {self.runtime} (JUPYTER_RUNTIME_DIR)")
        print("  $ jupyter-supervisor serve --heartbeat 1 &", flush=True)
        log = open(os.path.join(self.tmp, "serve.log"), "w")
        self.serve = subprocess.Popen([*self.cli, "serve", "--heartbeat", "1"], env=self.env,
                                      stdout=subprocess.PIPE, stderr=log, text=True)  # fmt: skip
        log.close()
        assert self.serve.stdout is not None
        line = self.serve.stdout.readline().strip()
        if "serving" not in line:
            raise RuntimeError(f"the supervisor did not start: {line!r}")
        print(f"    {line}")

    def execute(self, kid: str, code: str) -> str:
        from jupyter_client import BlockingKernelClient

        cf = self.run_cli("connect-info", kid, show=False).strip()
        kc = BlockingKernelClient(connection_file=cf)
        kc.load_connection_file()
        kc.start_channels()
        out: list[str] = []
        try:
            kc.wait_for_ready(timeout=60)

            def hook(msg: dict[str, Any]) -> None:
                if msg["msg_type"] == "stream":
                    out.append(msg["content"]["text"])

            reply = kc.execute_interactive(code, output_hook=hook, timeout=60)
            if reply["content"]["status"] != "ok":
                raise RuntimeError(f"execution failed on {kid}: {reply['content']}")
        finally:
            kc.stop_channels()
        return "".join(out).strip()

    def main(self) -> int:
        pids: list[int] = []
        try:
            self.start_supervisor()
            self.say("starting three python3 (ipykernel) kernels")
            for kid in KERNELS:
                self.run_cli("start", "python3", "--id", kid)
            self.say("running code on each kernel (BlockingKernelClient, connection file "
                     "from `connect-info`)")  # fmt: skip
            for kid in KERNELS:
                text = self.execute(kid, "import os; print(f'{sum(range(10**6))} from pid "
                                    "{os.getpid()}')")  # fmt: skip
                print(f"    {kid}: {text}")
            self.run_cli("status")
            victim = next(r for r in self.status() if r["id"] == "beta")
            pids = [r["pid"] for r in self.status()]
            self.say(f"SIGKILL beta (pid {victim['pid']})")
            os.kill(victim["pid"], signal.SIGKILL)
            t_kill = time.monotonic()
            row = victim
            while time.monotonic() - t_kill < 30:
                row = next(r for r in self.status() if r["id"] == "beta")
                if row["restarts"] >= 1 and row["pid"] and row["state"] == "idle":
                    break
                time.sleep(0.1)
            else:
                raise RuntimeError(f"beta was not restarted: {row}")
            took = time.monotonic() - t_kill
            self.say(f"beta restarted by its policy, idle again {took:.1f}s after the kill: "
                     f"new pid {row['pid']}, restarts={row['restarts']}")  # fmt: skip
            pids.append(row["pid"])
            text = self.execute(
                "beta", "print('beta is back, fresh namespace:', 'os' not in dir())"
            )
            print(f"    beta: {text}")
            self.run_cli("logs", "beta")
            self.run_cli("status")
            self.say("graceful shutdown")
            self.run_cli("shutdown")
            assert self.serve is not None
            self.serve.wait(timeout=30)
            self.serve = None
            left = [p for p in pids if psutil.pid_exists(p)]
            leftovers = os.listdir(self.runtime) if os.path.isdir(self.runtime) else []
            ok = not left and not leftovers
            self.say(f"summary: 3 kernels started, code ran on each, beta SIGKILLed and "
                     f"restarted (restarts=1), shutdown clean: processes left {left or 'none'}, "
                     f"runtime dir leftovers {leftovers or 'none'}")  # fmt: skip
            print("DEMO OK" if ok else "DEMO FAILED", flush=True)
            return 0 if ok else 1
        finally:
            if self.serve is not None:  # something failed: never leave the supervisor behind
                self.serve.send_signal(signal.SIGTERM)
                try:
                    self.serve.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    self.serve.kill()
                    self.serve.wait()
            if self.serve is not None and self.serve.stdout is not None:
                self.serve.stdout.close()
            shutil.rmtree(self.tmp, ignore_errors=True)


def main() -> int:
    return Demo().main()


if __name__ == "__main__":
    sys.exit(main())
