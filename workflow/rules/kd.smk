include: "inputs/kd.smk"


rule kd:
    input:
        unpack(get_kd_input),
        unpack(get_kd_student_input),
    output:
        KD_ROW,
    log:
        "logs/kd/{dataset}/{kd_method}/{mode}/{setting}/seed{seed}.log",
    benchmark:
        BENCHMARKS["kd"]
    conda:
        "../../envs/vidcond.yaml"
    resources:
        gpu=1,
    params:
        teacher=PLAN.kd["teacher"] if PLAN.kd else None,
        student=PLAN.kd["student"] if PLAN.kd else None,
        student_options=PLAN.arch_options(PLAN.kd["student"]) if PLAN.kd else None,
        training=PLAN.kd["training"] if PLAN.kd else None,
        method_options=get_kd_method_options,
        sakd=get_kd_sakd,
        clip=get_clip,
        code=code_version("kd"),
    script:
        "../scripts/kd.py"


rule pretrain_student:
    output:
        weights=f"{STUDENT}.safetensors",
        meta=f"{STUDENT}.json",
    log:
        "logs/pretrain_student/{dataset}/{arch}.log",
    benchmark:
        BENCHMARKS["pretrain_student"]
    conda:
        "../../envs/vidcond.yaml"
    resources:
        gpu=1,
    params:
        source=PLAN.kd_pretrain.get("generator"),
        target=get_student_target,
        extract=get_extract_options,
        validation=get_student_validation,
        clip=get_clip,
        model_options=get_arch_options,
        training=PLAN.kd_pretrain.get("training"),
        seed=config["seed"],
        code=code_version("pretrain_student"),
    script:
        "../scripts/pretrain_student.py"
