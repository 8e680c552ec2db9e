"""Jupyter protocol client and kernel management, built on trio actors."""
