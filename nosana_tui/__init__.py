"""nosana-tui: write, validate, run and monitor Nosana container jobs from a terminal.

The package is laid out by layer; data flows one way::

    ui / cli  ->  client  ->  (HTTP)  ->  node  ->  engine  ->  backends
           everyone may use  jobformat, api, sanitize

- ``jobformat``: the job-definition model, validation, dstack conversion, templates (pure).
- ``api``: the Node API's wire models (job and op states, the views the node serves).
- ``sanitize``: terminal-escape cleaning for text from containers and job files.
- ``host``: this machine's GPUs (discovery; how a container gets them), for node and backends.
- ``engine``: the execution plan, op state machine, readiness and health checks.
- ``backends``: container runtimes (Docker); the only place that imports ``docker``.
- ``node``: the node agent serving the Nosana Node API over engine + backend.
- ``client``: the httpx client of the Node API; the only way the CLI and UI reach a node.
- ``cli`` and ``ui``: the command line and the Textual app.
"""

__version__ = "0.1.0"

import sys as _sys

# httpx imports its own command-line client (click, rich, pygments: ~65 ms, measured with
# `python -X importtime`) whenever those happen to be installed, as they are beside Textual. We
# never call it; a None entry makes that optional import fail the way httpx expects it might.
_sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
