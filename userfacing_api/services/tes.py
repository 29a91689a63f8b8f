"""GA4GH TES tasks as labcloud jobs: checking and submitting a task.

A task becomes a job of the pseudo-application `ga4gh-tes` whose spec carries
the task's executors and files (`handler.tes`), with runner `docker`: the same
queue, leases, retries, cancel and notifications as any job. The task document
as accepted is kept in the job's `attributes["tes"]`; what the worker learns
while running it (executor exit codes, times, output sizes) comes back as the
file `tes-task.json` in the job's log folder.
"""

from __future__ import annotations

import math
import posixpath
import re
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from pydantic import ValidationError
from sqlalchemy.orm import Session

from shared.api.errors import BadRequest, Forbidden
from shared.jobs.specs import (
    AppSpecs,
    Environment,
    HandlerSpecs,
    HardwareSpecs,
    JobSpecs,
    MetaSpecs,
    PathsUpload,
    SubmittedJob,
)
from shared.jobs.states import JobStatus
from shared.jobs.tes_spec import (
    InvalidLayout,
    TesExecution,
    TesExecutorSpec,
    TesInputSpec,
    TesOutputSpec,
    container_path,
    has_wildcard,
    mount_points,
    static_dir,
)
from shared.storage.local import LocalStorage
from shared.storage.paths import UnsafePath, clean_relpath, is_within
from shared.validation import parse_int
from userfacing_api.db.models import Job, OutboxMessage
from userfacing_api.services.files import UserFiles
from userfacing_api.services.job_limits import (
    InputFiles,
    JobLimits,
    check_env,
    check_input_count,
    check_spec_size,
    reserve_queue_slot,
)
from userfacing_api.tes_schemas import TES_VERSION, TesTaskCreate

#: The job's `application`: how a TES task is told apart from catalogue jobs.
APPLICATION = {"application": "ga4gh-tes", "version": TES_VERSION, "entrypoint": "task"}
#: `resources.backend_parameters` keys this backend understands (case-insensitive).
BACKEND_PARAMETERS = ("gpu_count", "gpu_model")
#: Inline input `content` per task (the specification asks for at least 128 KiB).
MAX_CONTENT_BYTES = 128 * 1024
# A worker without TES support would run this instead of the executors.
_OLD_WORKER_CMD = [
    "echo 'labcloud: this GA4GH TES task needs a newer labcloud worker' >&2; exit 70"
]


@dataclass(frozen=True)
class TesConfig:
    """What the TES facade needs from the settings."""

    image_patterns: tuple[str, ...]
    filesystem: str
    s3_bucket: str | None = None


# --- submission --------------------------------------------------------------


def parse_task(body: Any) -> TesTaskCreate:
    """The task document, or BadRequest naming what is wrong (TES clients expect 400)."""
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object (a tesTask)")
    try:
        return TesTaskCreate.model_validate(body)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'task'}: {e['msg']}" for e in exc.errors()
        )
        raise BadRequest(f"invalid task: {problems}") from None


def normalize_image(image: str) -> str:
    """``alpine`` → ``docker.io/library/alpine:latest``, as an engine would read it."""
    name, digest = image.split("@", 1) if "@" in image else (image, "")
    first, _, rest = name.partition("/")
    if not rest or ("." not in first and ":" not in first and first != "localhost"):
        name = f"docker.io/{name}" if rest else f"docker.io/library/{name}"
    if not digest and ":" not in name.rpartition("/")[2]:
        name += ":latest"
    return f"{name}@{digest}" if digest else name


def image_allowed(image: str, patterns: tuple[str, ...] | list[str]) -> bool:
    """Whether ``image``, fully qualified, matches one of ``patterns``, themselves read
    as fully qualified (``ubuntu:*`` is ``docker.io/library/ubuntu:*``). ``*`` and
    ``?`` stay within one path segment: ``ubuntu*`` never admits ``ubuntu.evil.io/x``."""
    full = normalize_image(image)
    return any(_pattern(p).fullmatch(full) for p in patterns)


def _pattern(pattern: str) -> re.Pattern[str]:
    wild = "*" in pattern or "?" in pattern
    qualified = _qualify_registry(pattern) if wild else normalize_image(pattern)
    parts = {"*": "[^/]*", "?": "[^/]"}
    return re.compile("".join(parts.get(c) or re.escape(c) for c in qualified))


def _qualify_registry(pattern: str) -> str:
    first, _, rest = pattern.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return pattern
    return f"docker.io/{pattern}" if rest else f"docker.io/library/{pattern}"


def check_images(task: TesTaskCreate, patterns: tuple[str, ...]) -> None:
    for ex in task.executors:
        if not image_allowed(ex.image, patterns):
            allowed = ", ".join(patterns) if patterns else "none (TES_IMAGE_ALLOWLIST is empty)"
            raise Forbidden(
                f"image '{ex.image}' is not allowed for TES tasks here; allowed images: {allowed}"
            )


def _path(raw: str, what: str) -> str:
    try:
        return container_path(raw, what)
    except InvalidLayout as exc:
        raise BadRequest(str(exc)) from None


def storage_rel(url: str, files: UserFiles, config: TesConfig) -> str:
    """The path below the user's root that a `file://`, bare-path or `s3://` URL names."""
    scheme = urlsplit(url).scheme.lower()
    if scheme == "s3":
        if config.filesystem != "s3":
            raise BadRequest(f"{url}: s3:// URLs need FILESYSTEM=s3; use file:///<path> here")
        try:
            key = files.storage.key_for_uri(url)
        except ValueError:
            key = None
        if key is None or not is_within(key, files.root):
            where = files.storage.uri(files.root)
            raise BadRequest(f"{url}: s3:// URLs must lie in your storage, {where}/…")
        return key[len(files.root) + 1 :]
    if scheme == "file":
        parts = urlsplit(url)
        if parts.netloc not in ("", "localhost"):
            raise BadRequest(f"{url}: a file:// URL names no host (file:///path)")
        raw = unquote(parts.path)
    elif url.startswith("/"):
        raw = url
    else:
        raise BadRequest(
            f"{url}: unsupported URL; use file:///<path in your storage>"
            + (", s3://…" if config.filesystem == "s3" else "")
            + ", http(s)://… or inline content"
        )
    try:
        return clean_relpath(_below_local_root(raw, files))
    except UnsafePath as exc:
        raise BadRequest(f"{url}: {exc}") from None


def _below_local_root(raw: str, files: UserFiles) -> str:
    """A path relative to the user's folder; with local storage, the absolute path of
    the user's folder on this host may lead it (a workflow engine on the same host
    sharing its work directory names its files so)."""
    if not isinstance(files.storage, LocalStorage):
        return raw
    mine = f"{str(files.storage.root).rstrip('/')}/{files.root}"
    if raw == mine or raw.startswith(mine + "/"):
        return raw[len(mine) :]
    return raw


def _is_http(url: str) -> bool:
    return urlsplit(url).scheme.lower() in ("http", "https")


def _inputs(
    task: TesTaskCreate, files: UserFiles, config: TesConfig, counted: InputFiles
) -> tuple[list[TesInputSpec], dict[str, str]]:
    specs: list[TesInputSpec] = []
    files_down: dict[str, str] = {}
    inline = 0
    for n, given in enumerate(task.inputs or []):
        path = _path(given.path, f"input path {given.path!r}")
        kind = given.type.value
        explicit = "type" in given.model_fields_set
        if given.content:  # "if content is not empty, url must be ignored"
            if kind == "DIRECTORY":
                raise BadRequest(f"input {path}: inline content is a FILE, not a DIRECTORY")
            inline += len(given.content.encode())
            specs.append(TesInputSpec(path=path, content=given.content))
            continue
        if given.content is not None and not given.url:
            specs.append(TesInputSpec(path=path, content=""))
            continue
        if not given.url:
            raise BadRequest(f"input {path}: give a url or content")
        if _is_http(given.url):
            if kind == "DIRECTORY":
                raise BadRequest(f"input {path}: an http(s) URL is a FILE, not a DIRECTORY")
            specs.append(TesInputSpec(path=path, url=given.url))
            continue
        rel = storage_rel(given.url, files, config)
        entry = files.stat(rel)
        if entry is None:
            raise BadRequest(f"input {given.url} does not exist in your storage")
        if entry.is_dir and kind == "FILE" and explicit:
            raise BadRequest(f"input {given.url} is a folder: give it type DIRECTORY")
        if not entry.is_dir and kind == "DIRECTORY":
            raise BadRequest(f"input {given.url} is a file, not a DIRECTORY")
        if entry.is_dir:
            members = counted.files_below(files.storage, entry.key)
            found = {m.key[len(entry.key) + 1 :]: files.storage.uri(m.key) for m in members}
            spec = TesInputSpec(path=path, type="DIRECTORY", files=found)
        else:
            counted.add()
            spec = TesInputSpec(path=path, files={"": files.storage.uri(entry.key)})
        for inner, uri in spec.files.items():
            name = inner or entry.key.rpartition("/")[2]
            files_down[f"tes/inputs/{n}/{name}"] = uri
        specs.append(spec)
    if inline > MAX_CONTENT_BYTES:
        raise BadRequest(
            f"inline input content is {inline} bytes; at most {MAX_CONTENT_BYTES} per task "
            "(upload bigger inputs and name them by URL)"
        )
    paths = [s.path for s in specs]
    if len(set(paths)) != len(paths):
        raise BadRequest("two inputs have the same path")
    return specs, files_down


def _outputs(
    task: TesTaskCreate, files: UserFiles, config: TesConfig, job_name: str
) -> tuple[list[TesOutputSpec], str]:
    """The outputs with their destinations below one upload folder, and that folder."""
    found: list[tuple[TesOutputSpec, str | None]] = []
    for given in task.outputs or []:
        path = _path(given.path, f"output path {given.path!r}")
        prefix = None
        if has_wildcard(path):
            prefix = _path(given.path_prefix, "path_prefix") if given.path_prefix else None
            prefix = prefix or static_dir(path)
            if not (path.startswith(prefix.rstrip("/") + "/")):
                raise BadRequest(f"output {path}: path_prefix {prefix} is not a folder above it")
        spec = TesOutputSpec(path=path, path_prefix=prefix, type=given.type.value, url=given.url)
        if _is_http(given.url):
            found.append((spec, None))
            continue
        rel = storage_rel(given.url, files, config)
        if not rel and spec.type == "FILE" and prefix is None:
            raise BadRequest(f"output {given.url}: a FILE output needs a file name")
        found.append((spec, rel))
    folders = [
        posixpath.dirname(rel) if s.type == "FILE" and s.path_prefix is None else rel
        for s, rel in found
        if rel is not None
    ]
    root = _common_folder(folders) if folders else f"output/{job_name}"
    outputs = []
    for output, dest in found:
        if dest is not None:
            output = output.model_copy(update={"store": dest[len(root) + 1 :] if root else dest})
        outputs.append(output)
    return outputs, root


def _common_folder(folders: list[str]) -> str:
    split = [f.split("/") if f else [] for f in folders]
    common: list[str] = []
    for parts in zip(*split, strict=False):
        if len(set(parts)) != 1:
            break
        common.append(parts[0])
    return "/".join(common)


def _backend_parameters(task: TesTaskCreate) -> tuple[dict[str, str], list[str]]:
    """The supported backend parameters (checked) and warnings about the others."""
    res = task.resources
    given = (res.backend_parameters if res else None) or {}
    strict = bool(res and res.backend_parameters_strict)
    kept: dict[str, str] = {}
    warnings: list[str] = []
    for key, value in given.items():
        low = key.lower()
        problem = None
        if low not in BACKEND_PARAMETERS:
            problem = f"backend parameter '{key}' is not supported"
        elif low == "gpu_count" and parse_int(value, 64) is None:
            problem = f"backend parameter '{key}' must be a whole number of GPUs, not {value!r}"
        elif low == "gpu_model" and not 0 < len(value.strip()) <= 255:
            problem = f"backend parameter '{key}' must name a GPU model (at most 255 characters)"
        if problem is None:
            kept[low] = value
        elif strict:
            raise BadRequest(
                f"{problem} (backend_parameters_strict); supported: {', '.join(BACKEND_PARAMETERS)}"
            )
        else:
            warnings.append(f"{problem}; ignored")
    return kept, warnings


def _executors(task: TesTaskCreate) -> list[TesExecutorSpec]:
    out = []
    for n, ex in enumerate(task.executors):
        env = ex.env or {}
        bad = [k for k in env if not k or "=" in k or "\x00" in k or "\x00" in env[k]]
        if bad:
            raise BadRequest(f"executor {n}: invalid environment variable name(s) {bad}")
        out.append(
            TesExecutorSpec(
                # As it was checked: the engine must not resolve a short name elsewhere.
                image=normalize_image(ex.image),
                command=ex.command,
                workdir=_path(ex.workdir, "workdir") if ex.workdir else None,
                stdin=_path(ex.stdin, "stdin") if ex.stdin else None,
                stdout=_path(ex.stdout, "stdout") if ex.stdout else None,
                stderr=_path(ex.stderr, "stderr") if ex.stderr else None,
                env=env,
                ignore_error=bool(ex.ignore_error),
            )
        )
    return out


def create_task(
    session: Session,
    files: UserFiles,
    config: TesConfig,
    body: Any,
    user_email: str | None,
    *,
    limits: JobLimits,
) -> Job:
    """Validate a task, then store it as a queued job with its outbox message, in one
    transaction. BadRequest for an invalid task, Forbidden for an image not allowed;
    `limits` bound it (and the user's jobs not ended yet) before anything is stored."""
    task = parse_task(body)
    check_images(task, config.image_patterns)
    check_input_count(len(task.inputs or []), limits, "inputs")
    check_input_count(len(task.outputs or []), limits, "outputs")
    check_env(((k, v) for ex in task.executors for k, v in (ex.env or {}).items()), limits)
    job_name = f"tes-{uuid.uuid4().hex[:16]}"
    params, warnings = _backend_parameters(task)
    inputs, files_down = _inputs(task, files, config, InputFiles(limits))
    outputs, upload_root = _outputs(task, files, config, job_name)
    execution = TesExecution(
        executors=_executors(task),
        inputs=inputs,
        outputs=outputs,
        volumes=[_path(v, f"volume {v!r}") for v in task.volumes or []],
    )
    try:
        mount_points(execution)
    except InvalidLayout as exc:
        raise BadRequest(str(exc)) from None
    res = task.resources
    hardware = HardwareSpecs(
        cpu_cores=res.cpu_cores if res else None,
        memory=math.ceil(res.ram_gb * 1024) if res and res.ram_gb else None,
        gpu_model=params.get("gpu_model"),
    )
    gpus = int(params.get("gpu_count", "0"))
    stored = task.model_dump(mode="json", exclude_none=True)
    if res is not None and res.backend_parameters is not None:
        # "Backends shall not store or return unsupported keys."
        stored["resources"]["backend_parameters"] = {
            k: v for k, v in res.backend_parameters.items() if k.lower() in params
        }
    job = Job(
        user_id=files.root,
        user_email=user_email,
        job_name=job_name,
        environment=Environment.local.value,
        priority=0,
        application=dict(APPLICATION),
        attributes={"files_down": {}, "env_vars": None, "tes": stored, "tes_warnings": warnings},
        hardware=hardware.model_dump(),
        status=JobStatus.queued.value,
    )
    reserve_queue_slot(session, files.root, limits)
    session.add(job)
    session.flush()
    spec = SubmittedJob(
        job=JobSpecs(
            app=AppSpecs(cmd=_OLD_WORKER_CMD, env={}),
            handler=HandlerSpecs(
                image_url=execution.executors[0].image,
                image_name=APPLICATION["application"],
                image_version=TES_VERSION,
                entrypoint=APPLICATION["entrypoint"],
                files_down=files_down,
                files_up={},
                runner="docker",
                gpus=gpus,
                tes=execution,
            ),
            meta=MetaSpecs(job_id=job.id, date_created=job.date_created),
            hardware=hardware,
        ),
        environment=Environment.local,
        priority=0,
        paths_upload=PathsUpload(
            output=files.storage.uri(files.key(upload_root)),
            log=files.storage.uri(files.key(f"log/{job_name}")),
            artifact=files.storage.uri(files.key(f"artifact/{job_name}")),
        ),
        submission_id=job.submission_id,
    )
    payload = spec.model_dump(mode="json")
    check_spec_size(session, payload, limits)
    session.add(OutboxMessage(job_id=job.id, kind="submit", payload=payload))
    session.commit()
    return job
