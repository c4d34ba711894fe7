"""The UI's Pilot tests reuse the real agent fixtures of the node tests."""

from tests.node.conftest import agent, anyio_backend, docker_engine

__all__ = ["agent", "anyio_backend", "docker_engine"]
