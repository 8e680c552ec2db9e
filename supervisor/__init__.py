"""jupyter_client.supervisor layer."""
