"""Remove what the chosen options do not need from the baked agent, then print the next steps.

Cookiecutter renders this file and runs it from inside the new project. As in pre_gen_project.py,
only the ``__main__`` block holds rendered values; the functions take plain strings and are imported
by the template's own tests.
"""

import json
import os
import shlex
import sys
from pathlib import Path

# Files that exist only for one LLM provider; the offline `fake` provider always stays.
PROVIDER_FILES = {
    "anthropic": (
        "src/{package}/integrations/llm/anthropic.py",
        "tests/integrations/test_llm_anthropic.py",
        "tests/integrations/test_llm_anthropic_attachments.py",
    ),
    "openai": (
        "src/{package}/integrations/llm/openai_compat.py",
        "tests/integrations/test_llm_openai.py",
        "tests/integrations/test_llm_openai_attachments.py",
    ),
}
TELEGRAM_FILES = (
    "src/{package}/integrations/telegram.py",
    "tests/integrations/test_telegram.py",
)


def unneeded_paths(package_name: str, llm_provider: str, telegram_alerts: str) -> list[str]:
    """Return the project-relative paths the chosen options do not need."""
    # `fake` means "decide later": both real providers stay, ready for LLM_PROVIDER in .env.
    templates = [
        path
        for provider, paths in PROVIDER_FILES.items()
        if llm_provider != "fake" and provider != llm_provider
        for path in paths
    ]
    if telegram_alerts == "no":
        templates.extend(TELEGRAM_FILES)
    return [template.format(package=package_name) for template in templates]


def remove_unneeded(
    project_dir: Path, package_name: str, llm_provider: str, telegram_alerts: str
) -> list[Path]:
    """Delete the files the options do not need from project_dir; return those that existed."""
    removed = []
    for relative_path in unneeded_paths(package_name, llm_provider, telegram_alerts):
        path = project_dir / relative_path
        if path.is_file():
            path.unlink()
            removed.append(path)
    return removed


def shown_path(project_dir: Path, user_dir: str | None) -> str:
    """Return project_dir as the user should type it: relative to user_dir when that is shorter.

    Cookiecutter runs this hook inside the new project, so the directory the user typed the command
    in survives only in $PWD, which POSIX shells keep. The relative form is used only when it leads
    back to the project from that directory; otherwise (no shell, a stale $PWD) the absolute path.
    """
    absolute = str(project_dir)
    if not user_dir or not os.path.isabs(user_dir) or not os.path.isdir(user_dir):
        return absolute
    # $PWD may go through a symbolic link (macOS's /tmp); the project path never does.
    relative = os.path.relpath(project_dir, os.path.realpath(user_dir))
    if relative.startswith("-"):
        relative = f"./{relative}"  # not an option of cd
    try:
        leads_back = os.path.samefile(os.path.join(user_dir, relative), project_dir)
    except OSError:
        leads_back = False
    return relative if leads_back and len(relative) < len(absolute) else absolute


def next_steps(project_path: str, agent_slug: str) -> str:
    """Return the short list of commands that take the new agent to its first run."""
    return "\n".join(
        (
            f"Your agent is in {project_path}. Next steps:",
            f"  cd {shlex.quote(project_path)}",
            "  python3 -m venv .venv && . .venv/bin/activate",
            "  pip install -e '.[test]'",
            "  cp .env.example .env && chmod 600 .env   # then fill in keys, if any",
            "  mkdir -p var/incoming && cp samples/incoming/* var/incoming/",
            f"  {agent_slug} once      # process the inbox once, then exit",
            "  pytest",
        )
    )


def main(agent_slug: str, package_name: str, llm_provider: str, telegram_alerts: str) -> int:
    """Trim the project in the current directory and print the next steps."""
    project_dir = Path.cwd()
    remove_unneeded(project_dir, package_name, llm_provider, telegram_alerts)
    print(next_steps(shown_path(project_dir, os.environ.get("PWD")), agent_slug))
    return 0


# Raw strings in single quotes, as in pre_gen_project.py: tojson never emits an apostrophe or a raw
# newline, so no answer can end the literal; a formatter would switch to double quotes.
# fmt: off
if __name__ == "__main__":
    sys.exit(
        main(
            agent_slug=json.loads(r'{{ cookiecutter.agent_slug|tojson }}'),
            package_name=json.loads(r'{{ cookiecutter.package_name|tojson }}'),
            llm_provider=json.loads(r'{{ cookiecutter.llm_provider|tojson }}'),
            telegram_alerts=json.loads(r'{{ cookiecutter.telegram_alerts|tojson }}'),
        )
    )
# fmt: on
