"""The app's screens: one per section (templates, jobs, nodes) and one per job."""
