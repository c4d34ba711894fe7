"""The execution engine: stage plan, op state machine, readiness, health checks, literals."""
