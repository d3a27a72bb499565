include: "inputs/pretrain.smk"


rule teacher:
    input:
        store=frame_store,
    output:
        weights=f"{TEACHER}.safetensors",
        meta=f"{TEACHER}.json",
    log:
        "logs/teacher/{dataset}/{arch}.log",
    benchmark:
        BENCHMARKS["teacher"]
    conda:
        "../../envs/vidcond.yaml"
    resources:
        gpu=1,
    params:
        training=get_teacher_training,
        model_options=get_arch_options,
        clip=get_clip,
        seed=config["seed"],
        code=code_version("teacher"),
    script:
        "../scripts/teacher.py"


rule experts:
    input:
        store=frame_store,
    output:
        shards=directory(EXPERTS),
        index=f"{EXPERTS}.json",
    log:
        "logs/experts/{dataset}/{arch}.log",
    benchmark:
        BENCHMARKS["experts"]
    conda:
        "../../envs/vidcond.yaml"
    resources:
        gpu=1,
    params:
        settings=get_experts_settings,
        model_options=get_arch_options,
        clip=get_clip,
        seed=config["seed"],
        code=code_version("experts"),
    script:
        "../scripts/experts.py"


rule diffusion:
    input:
        store=frame_store,
        teacher=lambda wc: teacher_weights(wc.dataset, PLAN.teacher_arch),
    output:
        model=directory(DIFFUSION),
        meta=f"{DIFFUSION}.json",
    log:
        "logs/diffusion/{dataset}.log",
    benchmark:
        BENCHMARKS["diffusion"]
    conda:
        "../../envs/vidcond.yaml"
    resources:
        gpu=1,
    params:
        settings=config.get("diffusion", {}),
        clip=get_clip,
        seed=config["seed"],
        code=code_version("diffusion"),
    script:
        "../scripts/diffusion.py"


rule interpolator:
    input:
        store=frame_store,
    output:
        weights=f"{INTERPOLATOR}.safetensors",
        meta=f"{INTERPOLATOR}.json",
    log:
        "logs/interpolator/{dataset}.log",
    benchmark:
        BENCHMARKS["interpolator"]
    conda:
        "../../envs/vidcond.yaml"
    resources:
        gpu=1,
    params:
        options=config.get("interpolator", {}).get("model", {}),
        training=config.get("interpolator", {}).get("training", {}),
        clip=get_clip,
        seed=config["seed"],
        code=code_version("interpolator"),
    script:
        "../scripts/interpolator.py"
