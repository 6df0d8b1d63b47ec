"""Scaffold: filled in with the kernels."""

__all__ = []
