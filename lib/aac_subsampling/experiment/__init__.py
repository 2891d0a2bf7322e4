"""The experiment's machinery on top of the method, the data and the evaluation: run profiles, the pipeline steps
the notebooks call (prepare, train, evaluate), the results folder's layout, run keys and run records, the lock,
the preflight checks, and the notebooks' set-up."""
