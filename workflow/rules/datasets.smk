import time

# Manifests written after this moment were extracted by this run (see `onsuccess`).
WORKFLOW_START = time.time()


def get_layout_files(wildcards):
    """Split or annotation files of a real dataset: editing one makes extraction stale."""
    return layouts.layout_files(DATASETS[wildcards.dataset])


def get_listing_checksum(wildcards):
    """Digest of the listed videos on disk: adding a missing video (or replacing one)
    makes extraction stale. A generated dataset is an input folder instead."""
    dataset = DATASETS[wildcards.dataset]
    return "" if dataset["format"] == "synthetic" else layouts.listing_checksum(dataset)


def print_dataset_summaries():
    """One console line per dataset extracted by this run: videos ok and skipped."""
    for name in DATASETS:
        manifest = Path(f"results/frames/{name}/manifest.parquet")
        if manifest.exists() and manifest.stat().st_mtime >= WORKFLOW_START:
            print(layouts.manifest_summary(name, manifest), file=sys.stderr)


onsuccess:
    print_dataset_summaries()


onerror:
    print_dataset_summaries()


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
        layout=get_layout_files,
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
    params:
        dataset=get_dataset_options,
        extract=get_extract_options,
        listing=get_listing_checksum,
    script:
        "../scripts/extract_frames.py"


rule all_frames:
    input:
        get_all_frames(),
