"""The README's Python example runs as written (extracted from the repository README)."""

import pathlib
import re

README = pathlib.Path(__file__).resolve().parents[3] / "README.md"


def test_readme_python_example_runs():
    assert README.exists(), f"{README} not found: the tests run from the repository"
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "README.md has no ```python block"
    for code in blocks:
        exec(compile(code, str(README), "exec"), {})
