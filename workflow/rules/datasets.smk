rule generate_synthetic:
    output:
        directory("results/datasets/{dataset}"),
    log:
        "logs/generate_synthetic/{dataset}.log",
    benchmark:
        "benchmarks/generate_synthetic/{dataset}.tsv"
    wildcard_constraints:
        dataset=SYNTHETIC_PATTERN,
    conda:
        "../../envs/vidcond.yaml"
    params:
        generator=get_generator_options,
    script:
        "../scripts/generate_synthetic.py"


rule extract_frames:
    input:
        unpack(get_extract_input),
    output:
        frames="results/frames/{dataset}/frames.u8",
        manifest="results/frames/{dataset}/manifest.parquet",
        meta="results/frames/{dataset}/store.json",
    log:
        "logs/extract_frames/{dataset}.log",
    benchmark:
        "benchmarks/extract_frames/{dataset}.tsv"
    conda:
        "../../envs/vidcond.yaml"
    threads: 4  # videos decoded in parallel; the store is the same for any count
    params:
        dataset=get_dataset_options,
        extract=get_extract_options,
    script:
        "../scripts/extract_frames.py"


rule all_frames:
    input:
        get_all_frames(),
