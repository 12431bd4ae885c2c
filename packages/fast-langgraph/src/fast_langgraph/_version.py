"""The installed version: pyproject.toml is the one place it is written."""

from importlib.metadata import version

__version__: str = version("fast-langgraph")
