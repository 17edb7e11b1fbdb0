"""``--help`` shows every option's help text whole: rich reads ``[lowercase...]`` as markup and
would silently drop it ("[default: ...]", "mqtt://[user:pass@]host")."""

from __future__ import annotations

import json
import re
import subprocess
import sys

from tests.helpers import ROOT, run_cli

# Each command's parameters and their help texts, read from the app itself (no command runs).
_HELPS = """
import json, typer, cli
group = typer.main.get_command(cli.app)
print(json.dumps({name: [p.help for p in c.params if getattr(p, "help", None)]
                  for name, c in group.commands.items()}))
"""


def _flat(text: str) -> str:
    """Text without the panels' borders and with runs of white space as one space."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", text).split())


def test_every_help_text_is_shown_whole():
    proc = subprocess.run([sys.executable, "-c", _HELPS], cwd=ROOT, capture_output=True, text=True, check=True)
    helps = json.loads(proc.stdout)
    assert {"train", "export", "classify", "predict"} <= set(helps)
    for command, texts in helps.items():
        shown = _flat(run_cli(command, "--help", env={"TERMINAL_WIDTH": "400"}).stdout)
        for text in texts:
            # A rich escape (\\[) is shown as the bracket alone.
            assert _flat(text.replace("\\[", "[")) in shown, (command, text)
