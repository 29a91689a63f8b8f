"""`/ga4gh/tes/v1`: the GA4GH Task Execution Service (TES 1.1.0; 1.0.0 requests too).

Workflow engines (Nextflow, Snakemake, Cromwell, cwl-tes) submit tasks here; each
task is a labcloud job. Callers authenticate with a bearer token or HTTP Basic
(the account's username and password) and must be in the `TES_GROUP` group;
executors' images must match `TES_IMAGE_ALLOWLIST`. Invalid requests get 400,
as TES clients expect, rather than FastAPI's 422.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, status

from shared.api.auth import admit, bearer_token, verify_async
from shared.api.errors import BadRequest, error_responses
from shared.api.openapi import request_body
from shared.auth.tokens import Principal
from shared.validation import parse_int
from userfacing_api.dependencies import ContextDep, SessionDep, user_storage
from userfacing_api.routers.accounts import client_address, signin_answers
from userfacing_api.services import tes, tes_tasks
from userfacing_api.services.basic_auth import BasicLoginFailed, BasicLogins
from userfacing_api.services.files import UserFiles
from userfacing_api.services.job_limits import JobLimits
from userfacing_api.tes_schemas import (
    TES_VERSION,
    Organization,
    TesCreateTaskResponse,
    TesListTasksResponse,
    TesServiceInfo,
    TesState,
    TesTaskCreate,
    TesView,
)

PREFIX = "/ga4gh/tes/v1"
router = APIRouter(
    prefix=PREFIX,
    tags=["GA4GH TES"],
    responses=error_responses(
        400, 401, 403, notes={429: "too many failed sign-ins (HTTP Basic)", 503: "busy"}
    ),
)
_CHALLENGE = 'Bearer, Basic realm="labcloud", charset="UTF-8"'


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, message, headers={"WWW-Authenticate": _CHALLENGE}
    )


def _basic_logins(request: Request, ctx: ContextDep) -> BasicLogins:
    logins = getattr(request.app.state, "tes_basic_logins", None)
    if logins is None:
        logins = BasicLogins(ctx.signins, ctx.verifier, gate=ctx.account_gate)
        request.app.state.tes_basic_logins = logins
    return logins


async def tes_caller(request: Request, ctx: ContextDep) -> Principal:
    """The caller, by bearer token or HTTP Basic (throttled like `/token`: 429); 401
    without valid credentials or for a closed or disabled account, 403 outside the TES
    group."""
    scheme, _, credentials = (request.headers.get("authorization") or "").strip().partition(" ")
    if scheme.lower() == "basic":
        try:
            raw = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise _unauthorized("malformed Basic credentials") from None
        username, sep, password = raw.partition(":")
        if not sep or not username:
            raise _unauthorized("malformed Basic credentials")
        try:
            with signin_answers():
                principal = await _basic_logins(request, ctx).login(
                    username, password, client_address(request)
                )
        except BasicLoginFailed as exc:
            raise _unauthorized(str(exc)) from None
    else:
        try:
            # No cookie: a browser would send it on a forged cross-site POST.
            principal = await verify_async(ctx.verifier, bearer_token(request))
        except HTTPException as exc:
            raise _unauthorized(str(exc.detail)) from None
    try:
        await admit(ctx.account_gate, principal)
    except HTTPException as exc:
        raise _unauthorized(str(exc.detail)) from None
    group = ctx.settings.tes_group
    if not principal.in_group(group):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"the TES API is for members of the '{group}' group; ask an administrator",
        )
    return principal


TesCaller = Annotated[Principal, Depends(tes_caller)]


def _files(ctx: ContextDep, caller: TesCaller) -> UserFiles:
    try:
        return UserFiles(ctx.storage, caller.username)
    except ValueError:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this user id cannot own files") from None


TesFiles = Annotated[UserFiles, Depends(_files)]
TaskId = Annotated[str, Path(description="the id CreateTask answered", examples=["3"])]


def _config(ctx: ContextDep) -> tes.TesConfig:
    s = ctx.settings
    return tes.TesConfig(tuple(s.tes_image_patterns), s.filesystem, s.s3_bucket)


async def _json_body(request: Request) -> Any:
    """The request's JSON; 400 (not 422) when it is not JSON at all.

    The content type must say JSON: a cross-site form post cannot send that
    without a CORS preflight, so a hostile page cannot submit tasks.
    """
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, "send the task as application/json"
        )
    try:
        return await request.json()
    except ValueError:
        raise BadRequest("the request body is not valid JSON") from None


# Query parameters are read as plain strings and checked by the routes, so that a bad
# one is a 400, as TES clients expect, not FastAPI's 422.
ViewQuery = Annotated[
    str | None, Query(description="MINIMAL (the default), BASIC or FULL", examples=["FULL"])
]


def _view(raw: str | None) -> TesView:
    try:
        return TesView((raw or TesView.MINIMAL.value).upper())
    except ValueError:
        raise BadRequest(f"view must be MINIMAL, BASIC or FULL, not {raw!r}") from None


@router.get("/service-info", summary="GetServiceInfo")
def service_info(request: Request, ctx: ContextDep) -> dict[str, Any]:
    """The GA4GH service-info of this TES service (no credentials needed)."""
    s = ctx.settings
    storage = ["file:///"]
    if s.filesystem == "s3" and s.s3_bucket:
        prefix = s.user_data_root_path.strip("/")
        storage.append(f"s3://{s.s3_bucket}/{prefix + '/' if prefix else ''}")
    base = str(request.base_url).rstrip("/")
    info = TesServiceInfo(
        id="org.labcloud.tes",
        name="labcloud TES",
        description="GA4GH Task Execution Service of labcloud: each task is a labcloud job, "
        "run by the lab's workers in containers. file:/// URLs name files in your labcloud "
        "storage; http(s) inputs are fetched by the worker.",
        organization=Organization(name="labcloud", url=base + "/"),
        documentationUrl=base + "/docs",
        version=TES_VERSION,
        storage=storage,
        tesResources_backend_parameters=list(tes.BACKEND_PARAMETERS),
    )
    return info.model_dump(exclude_none=True)


@router.post(
    "/tasks",
    summary="CreateTask",
    responses=error_responses(
        415,
        notes={
            413: "over a limit of a job (environment, inputs)",
            429: "too many jobs not ended yet (MAX_QUEUED_JOBS_PER_USER)",
            507: "over the storage quota",
        },
    ),
    openapi_extra=request_body(TesTaskCreate),
)
def create_task(
    caller: TesCaller,  # first: a caller without credentials gets 401, whatever the body
    files: TesFiles,
    body: Annotated[Any, Depends(_json_body)],
    session: SessionDep,
    ctx: ContextDep,
) -> dict[str, Any]:
    """Queue a task (a tesTask document); answers its id. 413 over a limit of a job, 429
    with too many jobs not ended yet, 507 over the storage quota."""
    user_storage(ctx, caller, files.root).check_room()  # no new task while over quota
    limits = JobLimits.from_settings(ctx.settings)
    job = tes.create_task(session, files, _config(ctx), body, caller.email, limits=limits)
    ctx.outbox_wakeup.notify()
    return TesCreateTaskResponse(id=str(job.id)).model_dump()


@router.get("/tasks", summary="ListTasks")
def list_tasks(
    _caller: TesCaller,
    files: TesFiles,
    session: SessionDep,
    name_prefix: Annotated[str | None, Query(description="tasks whose name starts so")] = None,
    state: Annotated[str | None, Query(description="tasks in this state")] = None,
    tag_key: Annotated[list[str] | None, Query(description="tasks with this tag")] = None,
    tag_value: Annotated[
        list[str] | None, Query(description="the tag_key of the same rank has this value")
    ] = None,
    page_size: Annotated[
        str | None, Query(description=f"1 to {tes_tasks.MAX_PAGE_SIZE}")
    ] = None,
    page_token: Annotated[str | None, Query(description="next_page_token of a page")] = None,
    view: ViewQuery = None,
) -> dict[str, Any]:
    """The caller's tasks, newest first, filtered and paged as the specification says."""
    if page_size is None or page_size == "":
        size = tes_tasks.DEFAULT_PAGE_SIZE
    elif not (size := parse_int(page_size, tes_tasks.MAX_PAGE_SIZE) or 0):
        raise BadRequest(f"page_size must be between 1 and {tes_tasks.MAX_PAGE_SIZE}")
    wanted = None
    if state:
        try:
            wanted = TesState(state.upper())
        except ValueError:
            raise BadRequest(f"unknown state {state!r}") from None
    keys, values = tag_key or [], tag_value or []
    if len(values) > len(keys):
        raise BadRequest("more tag_value than tag_key parameters")
    values += [""] * (len(keys) - len(values))
    tags = tuple(zip(keys, values, strict=True))
    flt = tes_tasks.TaskFilter(name_prefix or None, wanted, tags)
    tasks, token = tes_tasks.list_tasks(session, files, flt, _view(view), size, page_token)
    return TesListTasksResponse(tasks=tasks, next_page_token=token).model_dump(exclude_none=True)


@router.get("/tasks/{task_id}", summary="GetTask", responses=error_responses(404))
def get_task(
    task_id: TaskId,
    _caller: TesCaller,
    files: TesFiles,
    session: SessionDep,
    view: ViewQuery = None,
) -> dict[str, Any]:
    """One task in the `view` asked for (MINIMAL by default)."""
    return tes_tasks.show_task(session, files, task_id, _view(view))


@router.post("/tasks/{task_id}:cancel", summary="CancelTask", responses=error_responses(404))
def cancel_task(
    task_id: TaskId, caller: TesCaller, session: SessionDep, ctx: ContextDep
) -> dict[str, Any]:
    """Stop a task: it turns CANCELING, then CANCELED once its container is gone."""
    tes_tasks.cancel_task(session, caller.username, task_id)
    ctx.outbox_wakeup.notify()
    return {}
