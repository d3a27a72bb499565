rule evaluate:
    input:
        unpack(get_eval_input),
    output:
        EVAL,
    log:
        "logs/evaluate/{dataset}/{method}/ipc{ipc}/{arch}/{variant}/seed{seed}.log",
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
        code=code_version("evaluate"),
    script:
        "../scripts/evaluate.py"


rule evaluate_full:
    input:
        unpack(get_full_input),
    output:
        EVAL_FULL,
    log:
        "logs/evaluate_full/{dataset}/{arch}/seed{seed}.log",
    benchmark:
        BENCHMARKS["evaluate_full"]
    conda:
        "../../envs/vidcond.yaml"
    resources:
        gpu=1,
    params:
        settings=get_full_settings,
        teacher_arch=get_full_teacher_arch,
        model_options=get_arch_options,
        clip=get_clip,
        code=code_version("evaluate"),
    script:
        "../scripts/evaluate.py"


rule cross_arch:
    input:
        unpack(get_eval_input),
    output:
        CROSS_ARCH,
    log:
        "logs/cross_arch/{dataset}/{method}/ipc{ipc}/{arch}/seed{seed}.log",
    benchmark:
        BENCHMARKS["cross_arch"]
    conda:
        "../../envs/vidcond.yaml"
    resources:
        gpu=1,
    params:
        settings=get_eval_settings,
        teacher_arch=get_eval_teacher_arch,
        model_options=get_arch_options,
        clip=get_clip,
        code=code_version("evaluate"),
    script:
        "../scripts/evaluate.py"


rule diversity:
    input:
        unpack(get_diversity_input),
    output:
        DIVERSITY_ROW,
    log:
        "logs/diversity/{dataset}/{method}/ipc{ipc}.log",
    benchmark:
        BENCHMARKS["diversity"]
    conda:
        "../../envs/vidcond.yaml"
    resources:
        gpu=1,
    params:
        settings=get_diversity_settings,
        arch=diversity_arch() if DIVERSITY else None,
        clip=get_clip,
        seed=config["seed"],
        code=code_version("diversity"),
    script:
        "../scripts/diversity.py"
