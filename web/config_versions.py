"""Versions of the configuration folder, named by their content, shared through Redis.

Every process (each web worker, each RQ worker) loads the configuration folder
and serves it; an edit of any file (hotliners, shifts, queues, hours, routing,
IVR, KB, recap templates) is picked up within `CHECK_SECONDS`, without a
restart. Why content hashes and Redis:

- a call in progress keeps the IVR tree it started with: its webhook URLs
  carry `v=<version>`. A version counted per process meant another tree in
  another gunicorn worker; a hash of the files means the same tree everywhere;
- a process that never loaded a version (started after the edit, or on
  another host) finds its files in Redis, where the process that loaded it
  first published them (`config:files:<hash>`), and loads them from there;
- `config:current` names the newest version: a process that sees another
  one there looks at its folder again at once, whatever the files' times say.

A broken edit is refused (`ConfigError` with `file:line: reason`, logged once)
and the running version stays; nothing is published for it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

import redis

from core.errors import ConfigError
from core.keys import Keys
from web.config import HotlineConfig, config_files, load_config

log = logging.getLogger(__name__)

#: How often a process looks for an edit (seconds): converged within 2 s.
CHECK_SECONDS = 0.25
#: How long a version's files stay in Redis (a call lasts less).
SNAPSHOT_SECONDS = 7 * 24 * 3600
#: Versions a process keeps loaded (calls in progress started with them).
KEEP_VERSIONS = 8

Files = dict[str, str]  # path relative to the folder -> text
Stamp = tuple[tuple[str, float, int], ...]


def read_files(folder: Path) -> Files:
    """The folder's configuration files, by relative path."""
    return {
        str(path.relative_to(folder)): path.read_text(encoding="utf-8")
        for path in config_files(folder)
    }


def content_version(files: Files) -> str:
    """A short name for exactly these files (same files, same name anywhere)."""
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + files[name].encode() + b"\0")
    return digest.hexdigest()[:12]


def file_stamp(folder: Path) -> Stamp:
    """Cheap to take every half second: each file's time and size."""
    stamps = []
    for path in config_files(folder):
        try:
            info = path.stat()
        except OSError:
            continue
        stamps.append((str(path), info.st_mtime, info.st_size))
    return tuple(stamps)


class ConfigVersions:
    """The versions of the configuration one process has loaded, the newest
    first in line; `on_install` is told of each new newest one."""

    def __init__(
        self,
        folder: Path,
        client: redis.Redis | None,
        keys: Keys,
        on_install: Callable[[str, HotlineConfig], None] | None = None,
    ) -> None:
        self.folder = folder
        self.redis = client
        self.keys = keys
        self.on_install = on_install
        self.versions: dict[str, HotlineConfig] = {}
        self.version = ""
        self._files: Files = {}
        self._stamp: Stamp = ()
        self._refused = ""  # the broken edit logged last (logged once)
        self._lock = threading.Lock()

    def load(self) -> HotlineConfig:
        """The folder as it is now; `ConfigError` if broken (at start: the
        process must not serve a configuration nobody checked)."""
        with self._lock:
            self._stamp = file_stamp(self.folder)
            files = read_files(self.folder)
            config = load_config(self.folder)
            self._install(content_version(files), config, files)
            return config

    def publish(self) -> None:
        """Say in Redis which version this process serves, with its files
        (at start: a process started after an edit publishes it)."""
        with self._lock:
            self._publish(self.version, self._files)

    @property
    def refused(self) -> str:
        """Why the folder as it is now is refused ('' if it is not)."""
        return self._refused

    def current(self) -> tuple[str, HotlineConfig]:
        return self.version, self.versions[self.version]

    def get(self, version: str | None) -> tuple[str, HotlineConfig]:
        """The version a call in progress started with, else the newest."""
        if version and version != self.version:
            found = self.versions.get(version) or self._from_redis(version)
            if found is not None:
                return version, found
        return self.current()

    def check(self) -> bool:
        """Look for an edit (files changed, or another process published a
        newer version); True if a new version is now the newest."""
        with self._lock:
            stamp = file_stamp(self.folder)
            published = self._published()
            if stamp == self._stamp and published in ("", self.version):
                return False
            self._stamp = stamp
            files = read_files(self.folder)
            version = content_version(files)
            if version == self.version:
                self._refused = ""  # the folder is what this process serves
                return False
            known = self.versions.get(version)
            try:
                config = known or load_config(self.folder)
            except ConfigError as exc:
                if str(exc) != self._refused:
                    self._refused = str(exc)
                    log.error(
                        "configuration edit refused, still %s: %s", self.version, exc
                    )
                return False
            self._refused = ""
            self._install(version, config, files)
            log.warning(
                "configuration reloaded: version %s (process %d)", version, os.getpid()
            )
            return True

    def watch(self, stop: threading.Event) -> None:
        """A process's thread: `check` every `CHECK_SECONDS` until stopped."""
        while not stop.wait(CHECK_SECONDS):
            try:
                self.check()
            except Exception:  # noqa: BLE001 - keep watching
                log.exception("looking for a configuration edit failed")

    def _install(self, version: str, config: HotlineConfig, files: Files) -> None:
        self.versions.pop(version, None)
        self.versions[version] = config  # newest last
        for old in list(self.versions)[:-KEEP_VERSIONS]:
            del self.versions[old]
        self.version = version
        self._files = files
        self._publish(version, files)
        if self.on_install is not None:
            self.on_install(version, config)

    def _published(self) -> str:
        if self.redis is None:
            return ""
        try:
            raw = self.redis.get(self.keys.config_current)
        except redis.RedisError:
            return ""
        return raw.decode() if isinstance(raw, bytes) else ""

    def _publish(self, version: str, files: Files) -> None:
        if self.redis is None:
            return
        try:
            pipe = self.redis.pipeline(transaction=True)
            pipe.set(
                self.keys.config_files(version), json.dumps(files), ex=SNAPSHOT_SECONDS
            )
            pipe.set(self.keys.config_current, version)
            pipe.execute()
        except redis.RedisError as exc:  # live state down: the folder still serves
            log.warning("configuration version %s not published: %s", version, exc)

    def _from_redis(self, version: str) -> HotlineConfig | None:
        """A version this process never loaded, from the files another one
        published (kept among this process's versions once loaded)."""
        if self.redis is None or len(version) != 12 or not version.isalnum():
            return None
        try:
            raw = self.redis.get(self.keys.config_files(version))
        except redis.RedisError:
            return None
        if not isinstance(raw, bytes):
            return None
        files: Files = json.loads(raw)
        with tempfile.TemporaryDirectory(prefix="hotline-config-") as tmp:
            for name, text in files.items():
                path = Path(tmp) / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
            try:
                config = load_config(Path(tmp))
            except ConfigError as exc:
                log.error("published configuration %s does not load: %s", version, exc)
                return None
        with self._lock:
            if version not in self.versions:
                self.versions = {version: config, **self.versions}  # oldest first
                for old in list(self.versions)[:-KEEP_VERSIONS]:
                    if old != self.version:
                        del self.versions[old]
        return config
