"""Container backends. Only this package imports the ``docker`` SDK."""
