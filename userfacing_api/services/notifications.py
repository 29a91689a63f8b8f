"""What the email about a finished job says. Sending is the notification relay's job."""

from __future__ import annotations

from userfacing_api.db.models import Job

TAIL = 1000


def compose_job_email(job: Job) -> tuple[str, str]:
    """Subject and plain-text body for a job that has reached a terminal status."""
    subject = f"labcloud: job '{job.job_name}' (id {job.id}) {job.status}"
    details = (job.runtime_details or "").strip()[-TAIL:]
    lines = [
        f"Your job '{job.job_name}' (id {job.id}) has ended with status: {job.status}.",
        "",
        f"Application: {job.application.get('application')} {job.application.get('version')} "
        f"{job.application.get('entrypoint')}",
        f"Results: output/{job.job_name}, log/{job.job_name}, artifact/{job.job_name}",
    ]
    if details:
        lines += ["", "Run-time details (last lines):", details]
    lines += ["", "You can turn these emails off in your account settings (PUT /user/preferences)."]
    return subject, "\n".join(lines)
