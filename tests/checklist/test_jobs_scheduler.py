"""Durable jobs and the scheduler: stored waits, atomic claims, one run per job across instances."""

from __future__ import annotations

import multiprocessing
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bot.knowledge import KnowledgeBase
from bot.scheduler import BATCH, Scheduler
from bot.settings import Settings
from bot.slack.deps import Deps
from bot.store.db import Database
from bot.store.jobs import CANCELLED, DONE, FAILED, PENDING, Job, JobStore
from tests.checklist.conftest import make_template
from tests.fakes.polling import wait_until


def make_deps(path: Path, *, poll: float = 15.0, clock=time.time) -> Deps:
    settings = Settings(bot_db_path=path, bot_scheduler_poll_seconds=poll)
    kb = KnowledgeBase(causes=(), checklist=make_template())
    return Deps(settings=settings, kb=kb, db=Database(path), executor=ThreadPoolExecutor(2), clock=clock)


def test_job_survives_a_new_database_instance(tmp_path: Path) -> None:
    job_id = JobStore(Database(tmp_path / "db")).schedule("k", 500.0, {"checklist": "c1"}, key="r:c1")
    job = JobStore(Database(tmp_path / "db")).get(job_id)
    assert job is not None and job.payload == {"checklist": "c1"} and job.status == PENDING


def test_keyed_schedule_moves_the_pending_job(tmp_path: Path) -> None:
    jobs = JobStore(Database(tmp_path / "db"))
    first = jobs.schedule("k", 500.0, {"n": 1}, key="r:c1")
    second = jobs.schedule("k", 900.0, {"n": 2}, key="r:c1")
    assert first == second
    assert [(j.run_at, j.payload) for j in jobs.by_key("r:c1")] == [(900.0, {"n": 2})]
    assert jobs.cancel("r:c1") == 1
    assert jobs.get(first).status == CANCELLED
    assert jobs.claim_due(10_000.0, "w", kinds=("k",)) == []


def test_claim_only_due_jobs_and_only_once(tmp_path: Path) -> None:
    jobs = JobStore(Database(tmp_path / "db"))
    due = jobs.schedule("k", 100.0, {})
    jobs.schedule("k", 200.0, {})
    assert [j.id for j in jobs.claim_due(150.0, "w1", kinds=("k",))] == [due]
    assert jobs.claim_due(150.0, "w2", kinds=("k",)) == []


def test_claim_takes_only_the_kinds_asked_for(tmp_path: Path) -> None:
    jobs = JobStore(Database(tmp_path / "db"))
    recheck = jobs.schedule("recheck", 100.0, {})
    reply = jobs.schedule("reply", 100.0, {})
    assert [j.id for j in jobs.claim_due(100.0, "w", kinds=("reply",))] == [reply]
    assert jobs.due_count(("recheck",), 100.0) == 1 and jobs.due_count(("reply",), 100.0) == 1  # running
    jobs.retry(reply, 300.0, "HTTP 500")
    assert jobs.due_count(("reply",), 100.0) == 0  # back in the queue, due later
    assert [j.id for j in jobs.claim_due(300.0, "w", kinds=("reply", "recheck"))] == [recheck, reply]
    jobs.delete(reply)
    assert jobs.get(reply) is None


def test_expired_lease_is_claimable_again(tmp_path: Path) -> None:
    jobs = JobStore(Database(tmp_path / "db"))
    job_id = jobs.schedule("k", 100.0, {})
    assert jobs.claim_due(100.0, "dead-worker", kinds=("k",), lease_seconds=60)[0].attempts == 1
    assert jobs.claim_due(150.0, "w2", kinds=("k",), lease_seconds=60) == []
    again = jobs.claim_due(161.0, "w2", kinds=("k",), lease_seconds=60)
    assert [(j.id, j.attempts) for j in again] == [(job_id, 2)]


def test_threads_claim_each_job_exactly_once(tmp_path: Path) -> None:
    db = Database(tmp_path / "db")
    jobs = JobStore(db)
    ids = {jobs.schedule("k", 100.0, {"i": i}) for i in range(40)}
    barrier = threading.Barrier(8)
    claimed: list[int] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        barrier.wait(timeout=10)
        while batch := jobs.claim_due(100.0, f"w{n}", kinds=("k",), limit=3):
            with lock:
                claimed.extend(j.id for j in batch)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(claimed) == sorted(ids)


def _process_claim(db_path: str, barrier, queue) -> None:
    jobs = JobStore(Database(db_path))
    barrier.wait(timeout=30)
    mine = []
    while batch := jobs.claim_due(100.0, "p", kinds=("k",), limit=2):
        mine.extend(j.id for j in batch)
    queue.put(mine)


def test_processes_claim_each_job_exactly_once(tmp_path: Path) -> None:
    db_path = tmp_path / "db"
    jobs = JobStore(Database(db_path))
    ids = [jobs.schedule("k", 100.0, {"i": i}) for i in range(30)]
    ctx = multiprocessing.get_context("spawn")
    barrier, queue = ctx.Barrier(4), ctx.Queue()
    procs = [ctx.Process(target=_process_claim, args=(str(db_path), barrier, queue)) for _ in range(4)]
    for proc in procs:
        proc.start()
    results = [queue.get(timeout=60) for _ in procs]
    for proc in procs:
        proc.join(timeout=30)
    claimed = [job_id for result in results for job_id in result]
    assert sorted(claimed) == sorted(ids)


def test_run_due_runs_a_job_only_once_its_time_has_come(tmp_path: Path) -> None:
    deps = make_deps(tmp_path / "db")
    ran: list[tuple[dict, float]] = []
    scheduler = Scheduler(deps, handlers={"k": lambda job, now: ran.append((job.payload, now))}, sweeps=[])
    job_id = scheduler.jobs.schedule("k", 1600.0, {"checklist": "c1"})
    assert scheduler.run_due(1599.0) == 0 and ran == []
    assert scheduler.run_due(1600.0) == 1
    assert ran == [({"checklist": "c1"}, 1600.0)]
    assert scheduler.jobs.get(job_id).status == DONE
    assert scheduler.run_due(5000.0) == 0


def test_a_failing_job_is_marked_failed_and_other_kinds_are_left_alone(tmp_path: Path) -> None:
    deps = make_deps(tmp_path / "db")

    def boom(job: Job, now: float) -> None:
        raise RuntimeError("APS down")

    scheduler = Scheduler(deps, handlers={"boom": boom}, sweeps=[])
    failing = scheduler.jobs.schedule("boom", 1.0, {})
    reply = scheduler.jobs.schedule("reply", 1.0, {})  # the reply worker's, not the scheduler's
    assert scheduler.run_due(2.0) == 1
    assert scheduler.jobs.get(failing).status == FAILED
    assert scheduler.jobs.get(reply).status == PENDING


def test_a_restarted_scheduler_runs_the_stored_job(tmp_path: Path) -> None:
    first = Scheduler(make_deps(tmp_path / "db"), handlers={}, sweeps=[])
    first.jobs.schedule("k", 700.0, {"x": 1})
    ran: list[dict] = []
    handlers = {"k": lambda j, n: ran.append(j.payload)}
    second = Scheduler(make_deps(tmp_path / "db"), handlers=handlers, sweeps=[])
    assert second.run_due(700.0) == 1 and ran == [{"x": 1}]


def test_two_schedulers_racing_run_each_job_once(tmp_path: Path) -> None:
    ran: list[int] = []
    lock = threading.Lock()

    def record(job: Job, now: float) -> None:
        with lock:
            ran.append(job.id)

    schedulers = [
        Scheduler(make_deps(tmp_path / "db"), handlers={"k": record}, sweeps=[], worker=f"w{i}")
        for i in range(2)
    ]
    ids = [schedulers[0].jobs.schedule("k", 10.0, {"i": i}) for i in range(25)]
    barrier = threading.Barrier(2)

    def run(scheduler: Scheduler) -> None:
        barrier.wait(timeout=10)
        scheduler.run_due(10.0)

    threads = [threading.Thread(target=run, args=(s,)) for s in schedulers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(ran) == sorted(ids)


def slow_pass_with_a_second_scheduler(tmp_path: Path, jobs: int, second_looks_at: int) -> list[int]:
    """`jobs` due jobs, each taking 100 s, run by one scheduler's pass; when job `second_looks_at` runs, a
    second instance's scheduler makes its own pass. The job numbers run, by either, in order run."""
    clock = [1000.0]
    ran: list[int] = []

    second = Scheduler(
        make_deps(tmp_path / "db", clock=lambda: clock[0]),
        handlers={"k": lambda job, now: ran.append(job.payload["i"])},
        sweeps=[],
    )

    def slow(job: Job, now: float) -> None:
        ran.append(job.payload["i"])
        clock[0] += 100.0  # a slow re-check
        if job.payload["i"] == second_looks_at:
            second.run_due()

    first = Scheduler(make_deps(tmp_path / "db", clock=lambda: clock[0]), handlers={"k": slow}, sweeps=[])
    for i in range(jobs):
        first.jobs.schedule("k", 1000.0, {"i": i})
    first.run_due()
    return ran


def test_jobs_waiting_behind_slow_ones_are_not_taken_by_another_scheduler(tmp_path: Path) -> None:
    """A pass with many due jobs (after a restart, say) that take a while each (live re-checks): the last of
    them start long after they were claimed. Their leases are renewed as each job before them finishes, so a
    second instance's scheduler does not run them as well."""
    ran = slow_pass_with_a_second_scheduler(tmp_path, 10, second_looks_at=7)  # 700 s into the pass
    assert sorted(ran) == list(range(10)), ran


def test_a_second_batch_claimed_late_in_a_pass_is_not_taken_by_another_scheduler(tmp_path: Path) -> None:
    """More due jobs than one batch, slow ones: the next batch is claimed when the first has run, 1,000 s into
    the pass. Its lease starts then, not at the pass's start, or another instance's scheduler finds it
    expired at once and runs those jobs as well."""
    ran = slow_pass_with_a_second_scheduler(tmp_path, BATCH + 2, second_looks_at=BATCH)
    assert sorted(ran) == list(range(BATCH + 2)), ran


def test_sweeps_run_each_pass_and_a_failing_sweep_does_not_stop_jobs(tmp_path: Path) -> None:
    deps = make_deps(tmp_path / "db")
    seen: list[float] = []

    def broken(now: float) -> None:
        raise RuntimeError("slack down")

    scheduler = Scheduler(deps, handlers={"k": lambda j, n: None}, sweeps=[broken, seen.append])
    job_id = scheduler.jobs.schedule("k", 1.0, {})
    scheduler.run_due(3.0)
    assert seen == [3.0] and scheduler.jobs.get(job_id).status == DONE


def test_background_thread_polls_with_the_deps_clock_and_stops(tmp_path: Path) -> None:
    now = [100.0]
    deps = make_deps(tmp_path / "db", poll=0.01, clock=lambda: now[0])
    ran: list[int] = []
    scheduler = Scheduler(deps, handlers={"k": lambda j, n: ran.append(j.id)}, sweeps=[])
    job_id = scheduler.jobs.schedule("k", 200.0, {})
    stop = scheduler.start()
    try:
        passes = [0]
        scheduler.sweeps.append(lambda n: passes.__setitem__(0, passes[0] + 1))
        assert wait_until(lambda: passes[0] >= 3)
        assert ran == []
        now[0] = 200.0
        assert wait_until(lambda: ran == [job_id])
    finally:
        stop()
    assert scheduler.jobs.get(job_id).status == DONE


def test_jobs_that_ended_a_week_ago_are_purged_and_nothing_else(tmp_path: Path) -> None:
    """Every checklist leaves an ended job (its step-posting safety net, cancelled; its re-check, done): the
    table must not grow for ever."""
    deps = make_deps(tmp_path / "db")
    scheduler = Scheduler(deps, handlers={"k": lambda job, now: None}, sweeps=[])
    jobs = scheduler.jobs
    done = jobs.schedule("k", 100.0, {})
    assert scheduler.run_due(100.0) == 1 and jobs.get(done).status == DONE
    cancelled = jobs.schedule("k", 200.0, {}, key="c1")
    jobs.cancel("c1")
    failed = jobs.schedule("k", 300.0, {})
    jobs.fail(failed, 300.0, "boom")
    later = jobs.schedule("k", 8 * 86_400.0, {})  # pending: never purged, however old
    reply = jobs.schedule("reply", 50.0, {})  # the reply worker's, still waiting
    recent = jobs.schedule("k", 2 * 86_400.0, {}, key="c2")
    jobs.cancel("c2")
    Scheduler(deps, handlers={}, sweeps=[]).run_due(7 * 86_400.0 + 400.0)  # a restarted bot, a week on
    assert [jobs.get(i) for i in (done, cancelled, failed)] == [None, None, None]
    assert jobs.get(later).status == PENDING and jobs.get(reply).status == PENDING
    assert jobs.get(recent).status == CANCELLED


def test_a_running_scheduler_purges_ended_jobs_again_an_hour_later(tmp_path: Path) -> None:
    """A bot that runs for weeks purges hourly, not only at its first pass."""
    deps = make_deps(tmp_path / "db")
    scheduler = Scheduler(deps, handlers={"k": lambda job, now: None}, sweeps=[])
    jobs = scheduler.jobs
    week = 7 * 86_400.0
    scheduler.run_due(week)  # the first pass purges (nothing has ended yet)
    ended = jobs.schedule("k", 1.0, {}, key="c1")
    jobs.cancel("c1")
    scheduler.run_due(week + 3599.0)
    assert jobs.get(ended) is not None  # within the hour: no purge
    scheduler.run_due(week + 3600.0)
    assert jobs.get(ended) is None
