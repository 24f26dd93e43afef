"""The README's library example runs as written."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.conftest import PROJECT_ROOT


def test_readme_library_example_runs() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text()
    library = readme.split("\n## Library\n", 1)[1]
    blocks = re.findall(r"```python\n(.*?)```", library, re.S)
    assert blocks, "README's Library section has no python example"
    result = subprocess.run([sys.executable, "-c", blocks[0]], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("b'hello' from 16Uiu2"), result.stdout
