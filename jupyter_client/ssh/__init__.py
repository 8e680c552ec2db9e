"""SSH tunnelling for kernel connections (system ``ssh`` client; paramiko unsupported)."""

from jupyter_client.ssh.tunnel import *  # noqa: F403
from jupyter_client.ssh.tunnel import __all__ as __all__
