"""What a clone or a machine may lack, in one place: the only reasons a test may skip.

A skip for anything else hides a regression, so the conditions are read from the machine itself, never from
the code under test (a broken `worth_forking()` must fail tests, not skip them).
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from pathlib import Path

import pytest

# Third-party configurations (Batfish test configs, ciscoconfparse samples, public BIG-IP and NetScaler files)
# are not shipped with the repository: VPN_AUDITOR_PUBLIC_DATA names the folder holding cisco-asa/, cisco-ios/,
# f5/ and netscaler/; by default the folder `shared/public-data` beside the checkout.
PUBLIC_DATA = Path(os.environ.get("VPN_AUDITOR_PUBLIC_DATA")
                   or Path(__file__).resolve().parents[1].parent / "shared" / "public-data")


def _missing(folder: Path | str) -> str:
    return (f"public data {folder} not present: third-party configs are not shipped with the repository "
            "(set VPN_AUDITOR_PUBLIC_DATA to a folder holding it)")


def public_files(*subs: str) -> list[Path]:
    """The files of some folders of the public data (none when it is absent), sorted."""
    return sorted(path for sub in subs for path in (PUBLIC_DATA / sub).glob("*"))


def needs_public_data(*subs: str) -> pytest.MarkDecorator:
    """Skip where none of these folders of the public data holds a file."""
    return pytest.mark.skipif(not public_files(*subs), reason=_missing(f"{PUBLIC_DATA}/{{{','.join(subs)}}}"))


def public_data(sub: str) -> Path:
    """A folder of the public data, or a skip saying what is missing and how to provide it."""
    folder = PUBLIC_DATA / sub
    if not folder.is_dir():
        pytest.skip(_missing(folder))
    return folder


def public_file(rel: str) -> Path:
    """One public file; the data set is not ours, so a file it no longer holds is a skip, named."""
    path = public_data(rel.split("/", 1)[0]) / rel.split("/", 1)[1]
    if not path.is_file():
        pytest.skip(f"public data file {path} not present (this copy of the public data does not hold it)")
    return path


# The forked audit (auditor/parallel.py) runs on Linux with two CPUs or more.
CAN_FORK = (sys.platform.startswith("linux") and (os.cpu_count() or 1) > 1
            and "fork" in multiprocessing.get_all_start_methods())
needs_fork = pytest.mark.skipif(not CAN_FORK, reason="the forked audit needs Linux, fork and two CPUs; "
                                f"this machine has {sys.platform}, {os.cpu_count()} CPU(s)")
