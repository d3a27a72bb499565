include: "inputs/evaluate.smk"


rule evaluate:
    input:
        unpack(get_eval_input),
    output:
        EVAL,
    log:
        "logs/evaluate/{dataset}/{method}/ipc{ipc}/{arch}/{protocol}/{variant}.log",
    benchmark:
        BENCHMARKS["evaluate"]
    conda:
        "../../envs/vidcond.yaml"
    resources:
        gpu=1,
    params:
        settings=get_eval_settings,
        teacher_arch=get_eval_teacher_arch,
        model_options=get_arch_options,
        clip=get_clip,
        protocol=get_eval_protocol,
        seeds=get_eval_seeds,
        code=code_version("evaluate"),
    script:
        "../scripts/evaluate.py"


use rule evaluate as evaluate_full with:
    input:
        unpack(get_full_input),
    output:
        EVAL_FULL,
    log:
        "logs/evaluate_full/{dataset}/{arch}.log",
    benchmark:
        BENCHMARKS["evaluate_full"]
    params:
        settings=get_full_settings,
        teacher_arch=get_full_teacher_arch,
        protocol="full",
        seeds=PLAN.evaluation["seeds"],


# the evaluation of a main-grid set with another network, under the common protocol
use rule evaluate as cross_arch with:
    output:
        CROSS_ARCH,
    log:
        "logs/cross_arch/{dataset}/{method}/ipc{ipc}/{arch}.log",
    benchmark:
        BENCHMARKS["cross_arch"]
    params:
        seeds=PLAN.cross_arch_seeds(),


rule diversity:
    input:
        unpack(get_diversity_input),
    output:
        rows=DIVERSITY_ROWS,
        covered=DIVERSITY_COVERED,
    log:
        "logs/diversity/{dataset}.log",
    benchmark:
        BENCHMARKS["diversity"]
    conda:
        "../../envs/vidcond.yaml"
    resources:
        gpu=1,
    params:
        settings=PLAN.diversity_settings() if PLAN.diversity else None,
        arch=PLAN.diversity_arch() if PLAN.diversity else None,
        sets=get_diversity_sets,
        clip=get_clip,
        seed=config["seed"],
        code=code_version("diversity"),
    script:
        "../scripts/diversity.py"
