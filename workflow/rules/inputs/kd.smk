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


def get_kd_student_input(wildcards):
    """The pretrained student a kd job starts from (none for `scratch` runs)."""
    if not PLAN.kd_starts_pretrained(wildcards.setting):
        return {}
    return {
        "student": f"{STUDENT.format(dataset=wildcards.dataset, arch=PLAN.kd['student'])}.safetensors"
    }


def get_student_target(wildcards):
    """The target's generator options, for the disjointness check (None: a real dataset)."""
    return DATASETS[wildcards.dataset].get("generator")


def get_student_validation(wildcards):
    return {"fraction": 0.1, "seed": 0, **PLAN.kd_pretrain.get("validation", {})}
