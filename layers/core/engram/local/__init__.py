"""The embedded local stack and the developer tools behind the `engram` command."""
