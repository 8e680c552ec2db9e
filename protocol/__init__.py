"""jupyter_client.protocol layer."""
