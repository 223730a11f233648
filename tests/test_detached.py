"""benchmarks/detached.sh: a command started detached in a copy of the tree runs there to the end, its exit status
and log are kept, and `wait` packs its results."""

import subprocess
import tarfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "detached.sh"


def run(*args, cwd=REPO):
    return subprocess.run(["bash", str(SCRIPT), *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          check=True)


def test_start_then_wait_packs_results(tmp_path):
    box = tmp_path / "run"
    # the command runs in the copy, finds the tree's package on PYTHONPATH and writes under RUN/out
    run("start", box, "bash", "-c",
        f'python -c "import ws3dvg, pathlib; print(pathlib.Path(ws3dvg.__file__).parent.parent.parent.name)"; '
        f'echo "two words" > {box}/out/result.txt; exit 3')
    waited = run("wait", box, 60, tmp_path / "out.tgz")
    assert waited.stdout.startswith("rc: 3")
    assert "tree" in waited.stdout                 # imported from RUN/tree/src, not the checkout
    assert (box / "tree" / "params.yaml").exists()
    with tarfile.open(tmp_path / "out.tgz") as tgz:
        assert tgz.extractfile("out/result.txt").read() == b"two words\n"
        assert set(tgz.getnames()) >= {"out", "out/result.txt", "log"}


def test_wait_reports_a_running_job(tmp_path):
    box = tmp_path / "run"
    run("start", box, "sleep", "30")
    waited = run("wait", box, 0)
    assert waited.stdout.startswith("rc: running")
    subprocess.run(["pkill", "-f", f"{box}/job.sh"], check=False)


def test_unknown_verb_is_refused(tmp_path):
    bad = subprocess.run(["bash", str(SCRIPT), "go", tmp_path], capture_output=True, text=True)
    assert bad.returncode == 2 and "usage" in bad.stderr
