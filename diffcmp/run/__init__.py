"""Running: options, evaluating one case (:mod:`~diffcmp.run.evaluate`), timing, and isolation of
every case in a worker process under time and memory limits (:mod:`~diffcmp.run.isolation`)."""
