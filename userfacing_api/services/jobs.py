"""Jobs as the user sees them: submit, list, show, delete.

A submission is validated against the application catalogue and the user's
files, then stored with its outbox message in ONE transaction; the relay
delivers the message to the worker API later, so the request never waits on it.
"""

from __future__ import annotations

import logging

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shared.api.errors import BadRequest, Conflict, InvalidField, NotFound
from shared.app_config import INPUT_FOLDERS, Catalogue, Entrypoint
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
from shared.storage.base import OutsideScope, StorageError
from shared.storage.paths import UnsafePath, clean_relpath, join
from userfacing_api.db.models import Job, JobLog, Notification, OutboxMessage, StatusEvent
from userfacing_api.schemas import JobCreate, JobPublic, PathsOut
from userfacing_api.services.files import UserFiles
from userfacing_api.services.job_limits import (
    InputFiles,
    JobLimits,
    check_env,
    check_input_count,
    check_spec_size,
    reserve_queue_slot,
)

log = logging.getLogger(__name__)
OUTPUT_KINDS = ("output", "log", "artifact")
MAX_PAGE = 1000


def paths_out(job_name: str) -> dict[str, str]:
    """Where a job's results land, relative to the user's root."""
    return {kind: f"{kind}/{job_name}" for kind in OUTPUT_KINDS}


def to_public(job: Job) -> JobPublic:
    return JobPublic(
        id=job.id,
        job_name=job.job_name,
        environment=job.environment,
        priority=job.priority,
        application=job.application,
        attributes=job.attributes,
        hardware=job.hardware,
        user_id=job.user_id,
        user_email=job.user_email,
        date_created=job.date_created,
        date_started=job.date_started,
        date_finished=job.date_finished,
        status=JobStatus(job.status),
        runtime_details=job.runtime_details,
        paths_out=PathsOut(**paths_out(job.job_name)),
    )


def _check_job_name(name: str) -> None:
    try:
        clean = clean_relpath(name)
    except UnsafePath:
        clean = ""
    if clean != name or "/" in name or name.startswith("."):
        raise InvalidField(
            ("body", "job_name"),
            "job_name names the job's output folders: use a plain name without '/', "
            "a leading '.', or control characters",
        )


def _find_entrypoint(catalogue: Catalogue, request: JobCreate) -> Entrypoint:
    ref = request.application
    try:
        return catalogue.entrypoint(ref.application, ref.version, ref.entrypoint)
    except KeyError as exc:
        level = str(exc.args[0]).split(" ", 2)[1]  # "application" | "version" | "entrypoint"
        raise InvalidField(("body", "application", level), str(exc.args[0])) from None


def _expand_inputs(
    files: UserFiles, request: JobCreate, entrypoint: Entrypoint, counted: InputFiles
) -> dict[str, str]:
    """files_down: one entry per input file, `<subdir>/<relative path>` → storage URI.

    A folder input contributes every file below it, relative to the folder; a
    file input contributes itself under its own name. `counted` stops the expansion
    when the files are too many.
    """
    wanted = request.attributes.files_down
    inputs: list[tuple[str, str, str]] = []  # (kind, folder, user-given id)
    if wanted.config_id:
        inputs.append(("config_id", INPUT_FOLDERS["config_id"], wanted.config_id))
    for kind in ("data_ids", "artifact_ids"):
        for item in getattr(wanted, kind) or []:
            inputs.append((kind, INPUT_FOLDERS[kind], item))

    files_down: dict[str, str] = {}
    for kind, folder, given in inputs:
        try:
            rel = join(folder, clean_relpath(given))
        except UnsafePath as exc:
            raise BadRequest(f"invalid input path '{given}': {exc}") from None
        entry = files.stat(rel)
        if entry is None:
            raise BadRequest(f"input {rel} does not exist")
        subdir = entrypoint.handler.files_down.get(kind, folder)  # type: ignore[call-overload]
        if entry.is_dir:
            members = counted.files_below(files.storage, entry.key)
            pairs = [(m.key[len(entry.key) + 1 :], m.key) for m in members]
        else:
            counted.add()
            pairs = [(entry.key.rpartition("/")[2], entry.key)]
        for inner, key in pairs:
            target = f"{subdir}/{inner}"
            uri = files.storage.uri(key)
            if files_down.get(target, uri) != uri:
                raise BadRequest(f"two inputs would both be placed at /files/{target}")
            files_down[target] = uri
    return files_down


def _check_result_folders(files: UserFiles, job_name: str) -> None:
    """Refuse a job whose result folders already hold something of the user's (an
    upload named like the job): deleting the job deletes those folders, and must
    only ever remove what the job wrote. An empty folder is fine."""
    for rel in paths_out(job_name).values():
        entry = files.stat(rel)
        if entry is None or (entry.is_dir and next(files.storage.list(entry.key), None) is None):
            continue
        raise Conflict(
            f"'{rel}' already exists and would be deleted with the job: a job's results "
            f"go to output/, log/ and artifact/ folders named after it; choose another "
            f"job name, or move '{rel}' away first"
        )


def _hardware(request: JobCreate, entrypoint: Entrypoint) -> HardwareSpecs:
    """The request's hardware, with the entrypoint's defaults for what it leaves open."""
    defaults = entrypoint.aws_resources.hardware
    asked = request.hardware or HardwareSpecs()
    return HardwareSpecs(
        cpu_cores=asked.cpu_cores if asked.cpu_cores is not None else defaults.VCPU,
        memory=asked.memory if asked.memory is not None else defaults.MEMORY,
        gpu_model=asked.gpu_model,
        gpu_archi=asked.gpu_archi,
        gpu_mem=asked.gpu_mem,
    )


def submit_job(
    session: Session,
    catalogue: Catalogue,
    files: UserFiles,
    request: JobCreate,
    user_email: str | None,
    *,
    limits: JobLimits,
) -> Job:
    """Validate, then store the job (`queued`) and its outbox message together; `limits`
    bound it (and the user's jobs not ended yet) before anything is stored."""
    _check_job_name(request.job_name)
    entrypoint = _find_entrypoint(catalogue, request)
    env_vars = request.attributes.env_vars or {}
    disallowed = sorted(set(env_vars) - set(entrypoint.app.env))
    if disallowed:
        raise InvalidField(
            ("body", "attributes", "env_vars"),
            f"environment variables {disallowed} are not allowed for this entrypoint; "
            f"allowed: {entrypoint.app.env}",
        )
    check_env(env_vars.items(), limits)
    wanted = request.attributes.files_down
    check_input_count(len(wanted.data_ids or []) + len(wanted.artifact_ids or []), limits)
    user_id = files.root
    if session.scalar(
        select(Job.id).where(Job.user_id == user_id, Job.job_name == request.job_name)
    ):
        raise Conflict(f"a job named '{request.job_name}' already exists")
    _check_result_folders(files, request.job_name)
    files_down = _expand_inputs(files, request, entrypoint, InputFiles(limits))
    hardware = _hardware(request, entrypoint)

    job = Job(
        user_id=user_id,
        user_email=user_email,
        job_name=request.job_name,
        environment=request.environment.value if request.environment else None,
        priority=request.priority,
        application=request.application.model_dump(),
        attributes=request.attributes.model_dump(),
        hardware=request.hardware.model_dump() if request.hardware else None,
        status=JobStatus.queued.value,
    )
    reserve_queue_slot(session, user_id, limits)
    session.add(job)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise Conflict(f"a job named '{request.job_name}' already exists") from None

    ref = request.application
    spec = SubmittedJob(
        job=JobSpecs(
            app=AppSpecs(cmd=entrypoint.app.cmd, env=env_vars),
            handler=HandlerSpecs(
                image_url=entrypoint.handler.image_url,
                image_name=ref.application,
                image_version=ref.version,
                entrypoint=ref.entrypoint,
                files_down=files_down,
                files_up=entrypoint.handler.files_up,
                runner=entrypoint.handler.runner,
                timeout=entrypoint.aws_resources.timeout,
                gpus=entrypoint.aws_resources.hardware.GPU or 0,
            ),
            meta=MetaSpecs(job_id=job.id, date_created=job.date_created),
            hardware=hardware,
        ),
        environment=Environment(job.environment) if job.environment else Environment.any,
        group=None,
        priority=request.priority,
        paths_upload=PathsUpload(
            **{kind: files.storage.uri(files.key(p)) for kind, p in paths_out(job.job_name).items()}
        ),
        submission_id=job.submission_id,
    )
    payload = spec.model_dump(mode="json")
    check_spec_size(session, payload, limits)
    session.add(OutboxMessage(job_id=job.id, kind="submit", payload=payload))
    session.commit()
    return job


def list_jobs(session: Session, user_id: str, offset: int, limit: int) -> list[Job]:
    """The user's jobs, newest first, ordered in the query before paging."""
    if offset < 0 or not 1 <= limit <= MAX_PAGE:
        raise BadRequest(f"offset must be ≥ 0 and limit between 1 and {MAX_PAGE}")
    query = (
        select(Job)
        .where(Job.user_id == user_id)
        .order_by(Job.date_created.desc(), Job.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return list(session.scalars(query))


def get_job(session: Session, user_id: str, job_id: int) -> Job:
    job = session.get(Job, job_id)
    if job is None or job.user_id != user_id:
        raise NotFound("job not found")
    return job


def _request_cancel(session: Session, job: Job) -> None:
    """Queue a cancel for the worker API unless the job has ended or one is pending."""
    if JobStatus(job.status).is_terminal:
        return
    pending = session.scalar(
        select(OutboxMessage.id).where(
            OutboxMessage.job_id == job.id,
            OutboxMessage.kind == "cancel",
            OutboxMessage.delivered_at.is_(None),
        )
    )
    if pending is None:
        payload = {"job_id": job.id, "submission_id": job.submission_id}
        session.add(OutboxMessage(job_id=job.id, kind="cancel", payload=payload))


def forget_job(session: Session, job_id: int) -> None:
    """Delete job `job_id` and every row about it (status events, live log, its email even
    if unsent, outbox messages), in the caller's transaction, except a cancel not yet
    delivered: the relay delivers it, then removes it."""
    # The job's row lock first: a status report (which takes it too) waits, then finds the
    # job gone, instead of adding an event behind the deletes.
    session.execute(select(Job.id).where(Job.id == job_id).with_for_update())
    for model in (StatusEvent, Notification, JobLog):
        session.execute(delete(model).where(model.job_id == job_id))
    session.execute(
        delete(OutboxMessage).where(
            OutboxMessage.job_id == job_id,
            ~((OutboxMessage.kind == "cancel") & OutboxMessage.delivered_at.is_(None)),
        )
    )
    session.execute(delete(Job).where(Job.id == job_id))


def cancel_job(session: Session, user_id: str, job_id: int) -> Job:
    """Ask the worker API to stop the job; its status follows from what the worker side reports."""
    job = get_job(session, user_id, job_id)
    _request_cancel(session, job)
    session.commit()
    return job


def remove_job(session: Session, job: Job) -> None:
    """Cancel the job at the worker API (through the outbox), then delete it and all it left
    in the database, in the caller's transaction (closing an account removes all its jobs
    this way)."""
    _request_cancel(session, job)
    forget_job(session, job.id)


def delete_job(session: Session, files: UserFiles, job_id: int) -> None:
    """Cancel the job at the worker API (through the outbox), then delete it, all it left
    in the database, and its outputs."""
    job = get_job(session, files.root, job_id)
    remove_job(session, job)
    session.commit()
    # The job is gone: from here on nothing may fail the request. Outputs that cannot
    # be deleted (a name from before the name rules, say) stay, for the user to remove.
    for rel in paths_out(job.job_name).values():
        key = files.key(rel)
        try:
            files.storage.delete(key)
        except OutsideScope:
            pass  # a link placed by hand that leads out: what lies behind it is not the job's
        except (OSError, UnsafePath, StorageError) as exc:
            log.warning("job %s deleted, but not its outputs at %s: %s", job.id, key, exc)
