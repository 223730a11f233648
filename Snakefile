# Snakemake front end. The rules are derived from dvc.yaml (the one declaration of the
# stages), with params.yaml's values as each rule's params so Snakemake's params trigger
# reruns a rule when a section it lists changes.
#   snakemake --cores 8 evaluate        # or any stage name / output path
import json

from ws3dvg.engine.config import validate_params
from ws3dvg.engine.workflow import is_directory_out, load_stages

configfile: "params.yaml"
validate_params(config)  # same schema and messages as the stages

STAGES = load_stages("dvc.yaml", config)


def _out(path):
    return directory(path) if is_directory_out(path) else path


for _name, _st in STAGES.items():
    _res = _st["resources"]  # runtime.resources: what a cluster (profiles/slurm) is asked for
    rule:
        name: _name
        input: _st["inputs"]
        output: [_out(p) for p in _st["outs"]]
        threads: _res["threads"]
        resources:
            mem_mb=_res["mem_mb"],
            runtime=_res["runtime"],
            gpu=_res["gpus"],
        # the command is bound here, not read from _st in shell (which would bind late)
        params:
            cmd=_st["cmd"],
            values=json.dumps(_st["params"], sort_keys=True),
        shell: "{params.cmd}"


onstart:
    print(f"ws3dvg: {len(STAGES)} stages from dvc.yaml")

onsuccess:
    print("ws3dvg: done")

onerror:
    print("ws3dvg: a stage failed; its last complete artifact was left in place (see the log above)")
