"""What every stage runs on: params and logging, errors that name the input, atomic writes, process
pools, training plumbing (loaders, checkpoints, captured steps), tracking, and dvc.yaml for Snakemake."""
