"""Input functions and targets of the tables rules (workflow/rules/tables.smk): paths from
the plan (`PLAN`, vidcond.plan) and the templates of common.smk."""

# Targets of the tables: the output of every planned job a table gathers.
EVAL_TARGETS = outputs(PLAN.eval_jobs())
KD_TARGETS = outputs(PLAN.kd_jobs())
KD_ABLATION_TARGETS = outputs(PLAN.kd_ablation_jobs())
# the label ablation: per cell the job whose rows it reports, and the cell's variant
LABELS_RUNS = PLAN.labels_ablation_runs()
LABELS_TARGETS = outputs(job for job, _ in LABELS_RUNS)
LABELS_VARIANTS = [variant for _, variant in LABELS_RUNS]
DIVERSITY_COVERED_TARGETS = outputs(PLAN.diversity_jobs(), {"diversity": DIVERSITY_COVERED})


def get_static_dynamic_input(wildcards):
    runs = PLAN.static_dynamic_runs()
    return {
        "rows": outputs(PLAN.sd_ablation_eval_jobs()),
        "metas": [
            f"{CONDENSED.format(dataset=r['dataset'], method=r['method'], ipc=r['run_ipc'])}.json"
            for r in runs
        ],
        "static_metas": [
            f"{CONDENSED.format(dataset=r['dataset'], method=r['static_method'], ipc=r['spc'])}.json"
            for r in runs
        ],
    }


def get_temporal_input(wildcards):
    return {
        "rows": outputs(PLAN.temporal_eval_jobs()),
        "metas": outputs(PLAN.temporal_condense_jobs()),
    }
