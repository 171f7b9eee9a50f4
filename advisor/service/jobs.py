"""Retraining jobs as every worker sees them: the record in the store, the lease a running job
holds, and the error when another job holds that lease.

The latest job's record is what ``GET /v1/retrain`` answers, whichever worker or replica
answers it. A record that says ``running`` while no live process holds its lease (the process
was killed, or its machine stopped renewing the lease) is turned ``failed`` the first time
anyone looks (:meth:`JobLog.latest`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import Column, Integer, String, Table, Text, select, update

from advisor.service.lifeline import holder_is_dead
from advisor.service.store import Store, metadata
from advisor.vocabulary.errors import AdvisorError

#: The name of the database lease a running retraining holds (one at a time, every replica).
LOCK = "retrain"
State = Literal["running", "promoted", "kept", "failed"]

retrain_jobs = Table(
    "retrain_jobs", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String(32), nullable=False, unique=True),
    Column("state", String(16), nullable=False),
    Column("holder", String(64), nullable=False),
    Column("request_id", String(64), nullable=True),
    Column("started", String(40), nullable=False),
    Column("finished", String(40), nullable=True),
    Column("version", String(64), nullable=True),
    Column("message", Text, nullable=False),
    Column("report", Text, nullable=True),
)


class RetrainBusyError(AdvisorError, RuntimeError):
    """Another retraining holds the lock."""


@dataclass(frozen=True)
class Job:
    id: str
    state: State
    started: str
    finished: str | None = None
    version: str | None = None
    message: str = ""
    #: what the job trained on: row counts, stored rows used and quarantined (see retrain)
    report: dict[str, Any] = field(default_factory=dict)
    holder: str = ""
    request_id: str | None = None


class JobLog:
    """The jobs table of a store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def record(self, job: Job) -> None:
        """Insert or update ``job`` (by id)."""
        values = {"state": job.state, "holder": job.holder[:64], "started": job.started,
                  "finished": job.finished, "version": job.version, "message": job.message,
                  "report": json.dumps(job.report), "request_id": job.request_id}
        with self.store._writing() as conn:
            done = conn.execute(update(retrain_jobs).where(retrain_jobs.c.id == job.id)
                                .values(**values)).rowcount
            if not done:
                conn.execute(retrain_jobs.insert().values(id=job.id, **values))

    def set_report(self, job_id: str, report: dict[str, Any]) -> None:
        """What a running job trains on, as soon as it knows (the training set is built)."""
        with self.store._writing() as conn:
            conn.execute(update(retrain_jobs).where(retrain_jobs.c.id == job_id,
                                                    retrain_jobs.c.state == "running")
                         .values(report=json.dumps(report)))

    def latest(self, *, now: str) -> Job | None:
        """The most recent job; one left ``running`` by a process that is gone is ``failed``."""
        query = select(retrain_jobs).order_by(retrain_jobs.c.seq.desc()).limit(1)
        with self.store._reading() as conn:
            record = conn.execute(query).mappings().first()
        if record is None:
            return None
        job = _job(record)
        if job.state == "running" and not self._alive(job):
            job = self.lost(job, now=now)
        return job

    def lost(self, job: Job, *, now: str) -> Job:
        """Mark a running job whose process is gone as failed (once, whoever sees it first)."""
        message = ("the process running it stopped (killed, or the service stopped) "
                   "before it finished; the serving version is unchanged")
        failed = Job(id=job.id, state="failed", started=job.started, finished=now,
                     message=message, report=job.report, holder=job.holder,
                     request_id=job.request_id)
        with self.store._writing() as conn:
            conn.execute(update(retrain_jobs).where(retrain_jobs.c.id == job.id,
                                                    retrain_jobs.c.state == "running")
                         .values(state="failed", finished=now, message=message))
        return failed

    def _alive(self, job: Job) -> bool:
        holder = self.store.lock_holder(LOCK)
        return holder == job.holder and not holder_is_dead(holder)


def _job(record: Any) -> Job:
    return Job(id=record["id"], state=record["state"], started=record["started"],
               finished=record["finished"], version=record["version"],
               message=record["message"], report=json.loads(record["report"] or "{}"),
               holder=record["holder"], request_id=record["request_id"])
