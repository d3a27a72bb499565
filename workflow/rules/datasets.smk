import time


include: "inputs/datasets.smk"


# Manifests written after this moment were extracted by this run: their summaries (videos
# ok / skipped by reason) are printed to the console when the run ends, failed or not.
WORKFLOW_START = time.time()


onsuccess:
    for line in layouts.extraction_summaries(DATASETS, WORKFLOW_START):
        print(line, file=sys.stderr)


onerror:
    for line in layouts.extraction_summaries(DATASETS, WORKFLOW_START):
        print(line, file=sys.stderr)


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
        code=code_version("generate_synthetic"),
    script:
        "../scripts/generate_synthetic.py"


rule extract_frames:
    input:
        unpack(get_extract_input),
        # split or annotation files: editing one makes extraction stale
        layout=lambda wc: layouts.layout_files(DATASETS[wc.dataset]),
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
        validation=get_validation_options,
        # the listed videos on disk: adding a missing one (or replacing one) makes
        # extraction stale; a generated dataset is an input folder instead
        listing=lambda wc: (
            ""
            if DATASETS[wc.dataset]["format"] == "synthetic"
            else layouts.listing_checksum(DATASETS[wc.dataset])
        ),
        code=code_version("extract_frames"),
    script:
        "../scripts/extract_frames.py"


rule all_frames:
    input:
        expand(FRAME_STORE, dataset=DATASETS),
