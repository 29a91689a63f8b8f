"""The data directory of `labcloud up` is private to the service.

Databases, logs, users' files and secrets: nobody but the account the service runs
as may read them. New files get it from the process umask (077) and from storage's
own explicit modes (folders 0700, files 0600); a data directory made before (or
by hand) is tightened at start. The worker's job folders are the one place opened
up again, for containers (`worker.staging.share_with_container`), inside the
private scratch folder.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)

PRIVATE_UMASK = 0o077  # files 0600, folders 0700


def make_private(top: Path) -> int:
    """Take every permission of group and others away below `top` (and from `top`);
    return how many entries changed. Links are neither followed nor changed; an entry
    this account cannot change (another owner) is logged and left."""
    changed = 0
    for dirpath, dirnames, filenames in os.walk(top, followlinks=False):
        for path in [Path(dirpath)] + [Path(dirpath, n) for n in dirnames + filenames]:
            try:
                mode = os.lstat(path).st_mode
                if stat.S_ISLNK(mode) or not stat.S_IMODE(mode) & 0o077:
                    continue
                os.chmod(path, stat.S_IMODE(mode) & ~0o077)
                changed += 1
            except OSError as exc:
                log.warning("could not make %s private: %s", path, exc.strerror)
    return changed
