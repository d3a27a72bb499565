# The student pretrained on the disjoint source dataset (kd.pretrain), per target dataset.
STUDENT = "results/students/{dataset}/{arch}"


def kd_student_pretrained(wildcards):
    """Whether this kd job starts from the pretrained student (`scratch` runs never do)."""
    return bool(KD and KD.get("pretrain")) and wildcards.setting != "scratch"


def kd_scratch_jobs(base):
    """With kd.pretrain: the student alone and each of `scratch_methods` in every mode, from scratch."""
    if not KD.get("pretrain"):
        return []
    scratch = {**base, "setting": "scratch"}
    methods = ["none"] + KD["pretrain"].get("scratch_methods", ["kd"])
    return [
        ("kd", {**scratch, "kd_method": m, "mode": mode})
        for m in methods
        for mode in (["vanilla"] if m == "none" else kd_modes())
    ]


def get_kd_student_input(wildcards):
    if not kd_student_pretrained(wildcards):
        return {}
    return {
        "student": f"{STUDENT.format(dataset=wildcards.dataset, arch=KD['student'])}.safetensors"
    }


def get_student_source(wildcards):
    return KD["pretrain"]["generator"]


def get_student_target(wildcards):
    """The target's generator options, for the disjointness check (None: a real dataset)."""
    return DATASETS[wildcards.dataset].get("generator")


def get_student_validation(wildcards):
    return {"fraction": 0.1, "seed": 0, **KD["pretrain"].get("validation", {})}


def get_student_training(wildcards):
    return KD["pretrain"]["training"]


rule pretrain_student:
    output:
        weights=f"{STUDENT}.safetensors",
        meta=f"{STUDENT}.json",
    log:
        "logs/pretrain_student/{dataset}/{arch}.log",
    benchmark:
        "benchmarks/pretrain_student/{dataset}/{arch}.tsv"
    conda:
        "../../envs/vidcond.yaml"
    resources:
        gpu=1,
    params:
        source=get_student_source,
        target=get_student_target,
        extract=get_extract_options,
        validation=get_student_validation,
        clip=get_clip,
        model_options=get_arch_options,
        training=get_student_training,
        seed=config["seed"],
        code=code_version("pretrain_student"),
    script:
        "../scripts/pretrain_student.py"


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
        teacher=KD["teacher"] if KD else None,
        student=KD["student"] if KD else None,
        student_options=get_kd_student_options,
        training=get_kd_training,
        method_options=get_kd_method_options,
        sakd=get_kd_sakd,
        clip=get_clip,
        code=code_version("kd"),
    script:
        "../scripts/kd.py"
