# Resource functions (kept apart from common.smk): the memory a job requests, from its estimate.


def get_condense_mem_mb(wildcards, input, attempt):
    """Memory of a condensation job (the SLURM request): 1.5 x its estimate
    (`vidcond.memory.job_estimate`), at least 4 GB, times the attempt; 32 GB per attempt
    where Snakemake runs without the package or the estimate fails."""
    try:
        from vidcond.memory import job_estimate
    except ImportError:
        return 32000 * attempt
    open(input.store).close()  # a missing store: Snakemake evaluates again once it exists
    inputs = {name: path for name, path in input.items() if name != "store"}
    try:
        estimate = job_estimate(
            get_method_kind(wildcards),
            get_method_params(wildcards),
            int(wildcards.ipc),
            Path(input.store).parent,
            get_clip(wildcards),
            get_method_models(wildcards),
            inputs,
        )
    except FileNotFoundError:  # an input still to be made (experts)
        raise
    except Exception:  # an estimate never stops the workflow (e.g. a model it cannot build)
        return 32000 * attempt
    return max(4000, int(1.5 * estimate["total"])) * attempt
