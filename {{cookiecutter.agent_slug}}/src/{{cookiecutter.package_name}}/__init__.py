"""The agent package. Your job is in job.py; the four pillars are the subpackages."""

AGENT_NAME = {{ cookiecutter.agent_name|tojson }}  # fmt: skip
AGENT_SLUG = "{{ cookiecutter.agent_slug }}"


def __getattr__(name: str) -> str:
    """Read __version__ from the installed package's metadata on first use, not at import.

    importlib.metadata costs about 50 ms: the commands that only read the state never need it.
    """
    if name != "__version__":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = version(AGENT_SLUG)
    except PackageNotFoundError:  # running from a source checkout
        found = "{{ cookiecutter.version }}"
    globals()["__version__"] = found
    return found
