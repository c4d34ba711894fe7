"""The command line: each command parses arguments and calls spec or the client."""
