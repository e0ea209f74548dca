"""Jinja additions for rendering this template: cookiecutter imports them from its root folder.

`template_dir` names the template's own folder, wherever cookiecutter was started from: the
pre-generation hook loads the agent's slug rule (contract/layout.py) from there.
"""

from pathlib import Path

from jinja2.ext import Extension


class TemplateDirExtension(Extension):
    """Add the global `template_dir`: the absolute path of the folder this file is in."""

    def __init__(self, environment):
        super().__init__(environment)
        environment.globals["template_dir"] = str(Path(__file__).resolve().parent)
