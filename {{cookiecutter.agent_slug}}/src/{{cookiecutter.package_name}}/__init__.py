"""The agent package. Your job is in job.py; the four pillars are the subpackages."""

from importlib.metadata import PackageNotFoundError, version

AGENT_NAME = {{ cookiecutter.agent_name|tojson }}  # fmt: skip
AGENT_SLUG = "{{ cookiecutter.agent_slug }}"

try:
    __version__ = version(AGENT_SLUG)
except PackageNotFoundError:  # running from a source checkout
    __version__ = "{{ cookiecutter.version }}"
