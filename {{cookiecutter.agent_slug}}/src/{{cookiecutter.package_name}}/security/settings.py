"""Load settings and secrets from one .env file, without exporting anything into the environment.

Under systemd the file arrives through LoadCredential= as $CREDENTIALS_DIRECTORY/env; on a laptop it
is ./.env. Secrets stay in the Settings object: os.environ is never written, so child processes and
/proc/<pid>/environ never see them. Which keys exist, and how each is checked, is declared once in
settings_schema.py; the Settings class is made from that declaration.
"""

import os
import stat
from pathlib import Path

from ..contract import envfile
from .settings_schema import SECRET_KEYS, SETTINGS, SettingsError

__all__ = ["SECRET_KEYS", "Settings", "SettingsError", "load_settings", "read_env_file"]


CREDENTIAL_NAME = "env"
LOCAL_ENV_FILE = ".env"
LOCAL_STATE_DIR = "var"
LOG_FILE_NAME = "agent.log"
MIN_SECRET_LENGTH = 6


def read_env_file(path: Path) -> dict[str, str]:
    """Read the .env file with the contract's reader (the format roles/agent writes)."""
    try:
        return envfile.read_env_file(path)
    except envfile.EnvFormatError as error:
        raise SettingsError(str(error)) from None


def secrets(self) -> list[str]:
    """Return the secret values that must never appear in a log line or a message."""
    values = (getattr(self, setting.attribute) for setting in SETTINGS if setting.secret)
    return [value for value in values if len(value) >= MIN_SECRET_LENGTH]


def max_file_bytes(self) -> int:
    return int(self.max_file_mb * 1024 * 1024)


class Settings:
    """Every setting the agent reads (settings_schema.SETTINGS), and where from; read-only.

    A plain class rather than a dataclass: dataclasses imports inspect, a fifth of a read-only
    command's start-up. Secrets are left out of repr().
    """

    __slots__ = ("state_dir", "env_file", *(setting.attribute for setting in SETTINGS))

    def __init__(self, state_dir: Path, env_file: Path | None = None, **values):
        unknown = set(values) - set(self.__slots__)
        if unknown:
            raise TypeError(f"Settings got unknown settings: {', '.join(sorted(unknown))}")
        object.__setattr__(self, "state_dir", state_dir)
        object.__setattr__(self, "env_file", env_file)
        for setting in SETTINGS:
            value = values.get(setting.attribute, setting.default)
            object.__setattr__(self, setting.attribute, value)

    def __setattr__(self, name, value):
        raise AttributeError(f"settings are read-only: cannot set {name}")

    def __eq__(self, other) -> bool:
        if not isinstance(other, Settings):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in self.__slots__)

    __hash__ = None

    def __repr__(self) -> str:
        shown = {"state_dir": self.state_dir, "env_file": self.env_file}
        shown.update(
            (setting.attribute, getattr(self, setting.attribute))
            for setting in SETTINGS
            if not setting.secret
        )
        return "Settings(" + ", ".join(f"{name}={value!r}" for name, value in shown.items()) + ")"

    secrets = secrets
    max_file_bytes = property(max_file_bytes)


def find_env_file(explicit: str | None = None) -> tuple[Path | None, bool]:
    """Return the settings file to read and whether systemd handed it over as a credential."""
    if explicit:
        return Path(explicit), False
    credentials = os.environ.get("CREDENTIALS_DIRECTORY")
    if credentials and (Path(credentials) / CREDENTIAL_NAME).exists():
        return Path(credentials) / CREDENTIAL_NAME, True
    local = Path(LOCAL_ENV_FILE)
    return (local, False) if local.exists() else (None, False)


def check_permissions(path: Path) -> None:
    """Refuse a settings file that group or others can read: it holds secrets."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise SettingsError(
            f"{path} is readable by group or others (mode {mode:04o}) and holds secrets; "
            f"fix: chmod 600 {path}"
        )


def load_settings(env_file: str | None = None, state_dir: str | None = None) -> Settings:
    """Build the Settings from the .env file, systemd's directories and the declared defaults."""
    path, from_systemd = find_env_file(env_file)
    values: dict[str, str] = {}
    if path is not None:
        if not path.exists():
            raise SettingsError(f"settings file {path} does not exist; fix: cp .env.example {path}")
        if not from_systemd:
            check_permissions(path)
        values = read_env_file(path)
    known = {setting.key for setting in SETTINGS}
    unknown = sorted(set(values) - known)
    if unknown:
        import logging  # a settings file seldom holds a stray key: reading one costs no import

        for key in unknown:
            logging.getLogger(__name__).warning("Ignoring unknown setting %s in %s", key, path)

    parsed = {setting.attribute: setting.parse(values.get(setting.key, "")) for setting in SETTINGS}
    state = state_dir or os.environ.get("STATE_DIRECTORY", "").split(":")[0] or LOCAL_STATE_DIR
    logs_dir = os.environ.get("LOGS_DIRECTORY", "").split(":")[0]
    if parsed["log_file"] is None and logs_dir:
        parsed["log_file"] = Path(logs_dir) / LOG_FILE_NAME
    return Settings(state_dir=Path(state).resolve(), env_file=path, **parsed)
