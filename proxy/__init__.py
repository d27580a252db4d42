"""Consentry: the running service."""
