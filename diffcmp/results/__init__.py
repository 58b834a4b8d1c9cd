"""Results: a run's tables and their JSON form (:mod:`~diffcmp.results.tables`), the tables
derived from them, the environment probe, and diffs between two runs
(:mod:`~diffcmp.results.rundiff`)."""
