"""Input functions and targets of the pretrain rules (workflow/rules/pretrain.smk): paths from
the plan (`PLAN`, vidcond.plan) and the templates of common.smk."""


def get_teacher_training(wildcards):
    return PLAN.teacher_training(wildcards.arch)


def get_experts_settings(wildcards):
    return PLAN.experts_settings()
