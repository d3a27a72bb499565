"""Input functions and targets of the kd rules (workflow/rules/kd.smk): paths from
the plan (`PLAN`, vidcond.plan) and the templates of common.smk."""


def get_kd_input(wildcards):
    inputs = {"store": frame_store(wildcards)}
    if wildcards.kd_method != "none":
        inputs["teacher"] = teacher_weights(wildcards.dataset, PLAN.kd["teacher"])
    return inputs


def get_kd_method_options(wildcards):
    return PLAN.kd_method_options(wildcards.kd_method)


def get_kd_sakd(wildcards):
    return PLAN.kd_sakd(wildcards.mode, wildcards.setting)
