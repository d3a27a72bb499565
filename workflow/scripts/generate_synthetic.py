from vidcond.data.synthetic import GeneratorConfig, generate
from vidcond.workflow import run


def main(smk):
    generate(smk.output[0], GeneratorConfig.from_dict(smk.params.generator))


run(snakemake, main)
