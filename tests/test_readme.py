"""README's Python snippets run as written, twice, and leave nothing behind."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def python_snippets() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def test_readme_has_python_snippets() -> None:
    assert python_snippets()


@pytest.mark.parametrize("index", range(len(python_snippets())))
def test_snippet_runs_twice_and_leaves_the_directory_clean(
    index: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code = compile(python_snippets()[index], f"README.md snippet {index}", "exec")
    for _ in range(2):  # writers refuse to overwrite: a second run must still work
        exec(code, {"__name__": f"readme_snippet_{index}"})
    assert list(tmp_path.iterdir()) == []  # nothing written into the current directory
