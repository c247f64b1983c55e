"""Adapters: exactly one module per external system."""
