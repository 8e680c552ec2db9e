"""jupyter_client.actors layer."""
