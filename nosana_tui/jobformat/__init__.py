"""The job-definition model, validation, dstack conversion and templates. Pure: no I/O but reading files."""
