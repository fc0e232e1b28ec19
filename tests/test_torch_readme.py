"""The README's "PyTorch modules" example runs as written and prints what its comments promise."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_readme_pytorch_example_runs():
    section = (ROOT / "README.md").read_text().split("\n## PyTorch modules\n", 1)[1].split("\n## ", 1)[0]
    (example,) = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert "symcell.torch.LSTM(" in example and "symcell.torch.Recurrent(" in example
    run = subprocess.run([sys.executable, "-c", example], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0] == "(8, 50, 128) (4, 8, 64) True"
    assert lines[1] == str(["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "w_ci_l0", "w_cf_l0",
                            "w_co_l0"])
