"""Input functions and targets of the condense rules (workflow/rules/condense.smk): paths from
the plan (`PLAN`, vidcond.plan) and the templates of common.smk."""


def get_method_params(wildcards):
    return PLAN.method_params(wildcards.method, wildcards.dataset, int(wildcards.ipc))


def get_method_models(wildcards):
    return PLAN.method_models(wildcards.method, wildcards.dataset, int(wildcards.ipc))


def get_method_kind(wildcards):
    return PLAN.method_kind(wildcards.method)


def get_condense_code(wildcards):
    return CODE.condense_version("condense", PLAN.method_kind(wildcards.method))


def condensation_teacher_files(wildcards):
    """One trained teacher per condensation model, as inputs `teacher_<arch>`."""
    archs = PLAN.condensation_teachers(wildcards.method, wildcards.dataset, int(wildcards.ipc))
    return {f"teacher_{arch}": teacher_weights(wildcards.dataset, arch) for arch in archs}


def static_memory_meta(wildcards):
    """The condensed set of single frames a +SD job starts from (its `static` settings)."""
    method, spc = PLAN.static_memory(wildcards.method, wildcards.dataset, int(wildcards.ipc))
    return f"{CONDENSED.format(dataset=wildcards.dataset, method=method, ipc=spc)}.json"


# Inputs a method can require (vidcond.plan.method_requirements): name -> main file of that
# input for a condense job (the method receives the path without suffix as `ctx.inputs[name]`).
REQUIREMENTS = {
    "teacher": lambda wc: teacher_weights(wc.dataset, PLAN.teacher_arch),
    # the shard directory (EXPERTS) is the path of its index without suffix
    "experts": lambda wc: f"{EXPERTS.format(dataset=wc.dataset, arch=PLAN.experts_arch())}.json",
    "teachers": condensation_teacher_files,  # several inputs: a dict of name -> file
    "interpolator": lambda wc: f"{INTERPOLATOR.format(dataset=wc.dataset)}.safetensors",
    "static": static_memory_meta,
    # the model directory (DIFFUSION) is the path of its summary without suffix
    "diffusion": lambda wc: f"{DIFFUSION.format(dataset=wc.dataset)}.json",
}


def get_condense_input(wildcards):
    inputs = {"store": frame_store(wildcards)}
    for name in PLAN.requirements(wildcards.method):
        files = REQUIREMENTS[name](wildcards)
        inputs.update(files if isinstance(files, dict) else {name: files})
    return inputs
