"""The node agent: serves the Nosana Node API over the engine and a backend."""
