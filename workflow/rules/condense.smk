include: "inputs/condense.smk"


rule condense:
    input:
        unpack(get_condense_input),
    output:
        tensors=f"{CONDENSED}.safetensors",
        meta=f"{CONDENSED}.json",
    log:
        "logs/condense/{dataset}/{method}/ipc{ipc}.log",
    benchmark:
        BENCHMARKS["condense"]
    conda:
        "../../envs/vidcond.yaml"
    resources:
        gpu=1,
        mem_mb=get_condense_mem_mb,
    params:
        kind=get_method_kind,
        hyper=get_method_params,
        model_options=get_method_models,
        clip=get_clip,
        seed=config["seed"],
        code=get_condense_code,
    script:
        "../scripts/condense.py"
