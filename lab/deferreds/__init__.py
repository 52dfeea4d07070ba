"""Placeholder package docstring; filled in by its owner."""
