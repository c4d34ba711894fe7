"""The client of the Node API (httpx); the only way the CLI and the UI reach a node."""
