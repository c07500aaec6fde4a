"""gcloud's own settings, the last fallback for the project and the region: what `gcloud config set project P`
and `gcloud config set ai/region R` (the region `gcloud ai` uses) wrote, read the way gcloud reads them.

`gcloud topic configurations`: a property's environment variable (CLOUDSDK_CORE_PROJECT, CLOUDSDK_AI_REGION) wins;
else the active named configuration holds it. The configurations live in $CLOUDSDK_CONFIG, else ~/.config/gcloud
(%APPDATA%\\gcloud on Windows; google-auth's `_cloud_sdk.get_config_path` finds it the same way, but reads only
os.environ); the active one is $CLOUDSDK_ACTIVE_CONFIG_NAME, else the name in the file `active_config`, else
`default`; each is an INI file, `configurations/config_NAME`. gcloud's installation-wide properties file is not read.
"""

from __future__ import annotations

import configparser
import os
import re
from collections.abc import Mapping
from pathlib import Path

from trainer.submit.errors import SubmitError
from trainer.values import shown

PROPERTIES = {"project": ("core", "project"), "region": ("ai", "region")}  # a setting -> gcloud's section, name
CONFIGURATION_NAME = re.compile(r"[a-z][-a-z0-9]*")  # gcloud config configurations create's rule


def config_dir(environ: Mapping[str, str]) -> Path | None:
    """gcloud's configuration folder for this environment; None when it names none (no CLOUDSDK_CONFIG, no home):
    only the environment given is read, never the process's own."""
    home = environ.get("APPDATA" if os.name == "nt" else "HOME")
    if environ.get("CLOUDSDK_CONFIG"):
        return Path(environ["CLOUDSDK_CONFIG"])
    if not home:
        return None
    return Path(home) / "gcloud" if os.name == "nt" else Path(home) / ".config" / "gcloud"


def _active_file(environ: Mapping[str, str]) -> Path | None:
    """The active named configuration's file (None without a configuration folder); one line for a name gcloud
    could not have made."""
    folder = config_dir(environ)
    if folder is None:
        return None
    name, where = environ.get("CLOUDSDK_ACTIVE_CONFIG_NAME"), "CLOUDSDK_ACTIVE_CONFIG_NAME"
    if not name:
        where = str(folder / "active_config")
        try:
            name = (folder / "active_config").read_text(encoding="utf-8").strip() or "default"
        except (FileNotFoundError, NotADirectoryError):
            name = "default"
        except (OSError, UnicodeDecodeError) as e:
            raise SubmitError(f"{where}: cannot read gcloud's active configuration ({e}); fix or delete it") from None
    if not CONFIGURATION_NAME.fullmatch(name):
        raise SubmitError(f"{where} {shown(name)}: not a gcloud configuration name (lowercase letters, digits and "
                          "hyphens, starting with a letter; gcloud config configurations list shows yours)")  # fmt: skip
    return folder / "configurations" / f"config_{name}"


def setting(name: str, environ: Mapping[str, str]) -> tuple[str, str] | None:
    """(value, where it came from) of the gcloud property behind this setting ('project' or 'region'), or None
    when gcloud has none; one line for a configuration file gcloud itself could not read."""
    section, key = PROPERTIES[name]
    variable = f"CLOUDSDK_{section.upper()}_{key.upper()}"
    if environ.get(variable):
        return environ[variable], variable
    path = _active_file(environ)
    if path is None:
        return None
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(path.read_text(encoding="utf-8"), source=str(path))
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (OSError, UnicodeDecodeError, configparser.Error) as e:
        why = str(e).splitlines()[0]
        raise SubmitError(f"{path}: not a readable gcloud configuration ({why}); fix it, or pass --{name}") from None
    value = parser.get(section, key, fallback="").strip()
    return (value, f"gcloud's {section}/{key} ({path})") if value else None
