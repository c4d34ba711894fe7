"""dstack ``service`` configurations: the model, the resources grammar, conversion to Nosana jobs."""
