"""Input functions and targets of the datasets rules (workflow/rules/datasets.smk): paths from
the plan (`PLAN`, vidcond.plan) and the templates of common.smk."""


def get_dataset_options(wildcards, input):
    """The dataset entry as the adapter needs it; a synthetic dataset's root is its generated folder."""
    options = {
        k: v
        for k, v in DATASETS[wildcards.dataset].items()
        if k in ("format", "root", "videos", "split", "classes")
    }
    if options["format"] == "synthetic":
        options["root"] = input.generated
    return options


def get_extract_input(wildcards):
    if DATASETS[wildcards.dataset]["format"] == "synthetic":
        return {"generated": f"results/datasets/{wildcards.dataset}"}
    return {}


def get_generator_options(wildcards):
    return DATASETS[wildcards.dataset]["generator"]


def get_extract_options(wildcards):
    return DATASETS[wildcards.dataset]["extract"]


def get_validation_options(wildcards):
    return DATASETS[wildcards.dataset]["validation"]
