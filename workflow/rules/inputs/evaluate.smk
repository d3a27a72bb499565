"""Input functions and targets of the evaluate rules (workflow/rules/evaluate.smk): paths from
the plan (`PLAN`, vidcond.plan) and the templates of common.smk."""

from vidcond.plan import training_part


def job_eval_settings(wildcards):
    """Settings of an evaluate or cross_arch job (cross_arch: the common protocol, no variant)."""
    return PLAN.eval_settings(
        wildcards.dataset,
        wildcards.method,
        wildcards.get("variant", "default"),
        wildcards.get("protocol", PLAN.common_protocol),
    )


def teacher_input(settings, dataset):
    """The teacher of a soft-label evaluation, as input `teacher` (none with hard labels)."""
    arch = PLAN.eval_teacher_arch(settings)
    return {"teacher": teacher_weights(dataset, arch)} if arch else {}


def get_eval_input(wildcards):
    inputs = {
        "store": frame_store(wildcards),
        "condensed": f"{CONDENSED.format(**wildcards)}.json",
    }
    inputs.update(teacher_input(job_eval_settings(wildcards), wildcards.dataset))
    return inputs


def get_eval_settings(wildcards):
    return training_part(job_eval_settings(wildcards))


def get_eval_teacher_arch(wildcards):
    return PLAN.eval_teacher_arch(job_eval_settings(wildcards))


def get_eval_protocol(wildcards):
    return wildcards.get("protocol", PLAN.common_protocol)


def get_eval_seeds(wildcards):
    return PLAN.eval_seeds(wildcards.method, wildcards.variant)


def get_full_input(wildcards):
    inputs = {"store": frame_store(wildcards)}
    inputs.update(teacher_input(PLAN.full_settings(wildcards.dataset), wildcards.dataset))
    return inputs


def get_full_settings(wildcards):
    return training_part(PLAN.full_settings(wildcards.dataset))


def get_full_teacher_arch(wildcards):
    return PLAN.eval_teacher_arch(PLAN.full_settings(wildcards.dataset))


def get_diversity_input(wildcards):
    sets = PLAN.diversity_sets(wildcards.dataset)
    return {
        "store": frame_store(wildcards),
        "condensed": [
            f"{CONDENSED.format(dataset=wildcards.dataset, method=m, ipc=i)}.json" for m, i in sets
        ],
        "teacher": teacher_weights(wildcards.dataset, PLAN.diversity_arch()),
    }


def get_diversity_sets(wildcards):
    return PLAN.diversity_sets(wildcards.dataset)
