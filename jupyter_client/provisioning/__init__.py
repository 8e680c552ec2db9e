"""Kernel provisioners."""
