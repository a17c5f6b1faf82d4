# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""The README's two commands are the ones CI and users run."""

import re
from pathlib import Path


ROOT = Path(__file__).resolve().parent.parent


def readme_commands() -> list[str]:
    """Shell lines of the README's fenced `bash` blocks."""
    blocks = re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip()]


def test_ci_runs_the_readme_test_command():
    commands = readme_commands()
    test_commands = [c for c in commands if "pytest" in c]
    assert len(test_commands) == 1, test_commands
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert test_commands[0] in ci_lines


def test_readme_main_job_uses_the_main_recipe():
    commands = readme_commands()
    assert (
        'python -m pip install torch==2.13.0 -e ".[viz]" && accelerate launch recipes/train.py --config recipes/tiny/entropy_advantage.yaml'
        in commands
    )
    assert (ROOT / "recipes" / "tiny" / "entropy_advantage.yaml").is_file()
