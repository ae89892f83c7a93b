"""The batching policy: ramping chunks, merged requests, round robin, paused clients."""
from __future__ import annotations

import pytest

from backend.server.scheduler import Job, Scheduler


def job(client: bytes, rid: str, count: int, model: str = "m", seed: int = 0, class_index=None) -> Job:
    return Job(client=client, request_id=rid, model=model, class_index=class_index, truncation=1.0,
               texture_size=64, seed=seed, count=count)


def sizes(batch):
    return [(s.job[1], s.start, s.count) for s in batch.segments]


def test_first_mesh_comes_alone_then_chunks_double_up_to_max_batch():
    scheduler = Scheduler(max_batch=4)
    scheduler.add(job(b"a", "r", 12, seed=100))
    batches = []
    while (batch := scheduler.next_batch()) is not None:
        batches.append(sizes(batch))
    assert batches == [[("r", 0, 1)], [("r", 1, 2)], [("r", 3, 4)], [("r", 7, 4)], [("r", 11, 1)]]


def test_concurrent_requests_of_one_model_share_batches_and_keep_their_seeds():
    scheduler = Scheduler(max_batch=8)
    scheduler.add(job(b"a", "x", 1, seed=5))
    scheduler.add(job(b"b", "y", 1, seed=9, class_index=2))
    scheduler.add(job(b"c", "z", 1, model="other"))
    batch = scheduler.next_batch()
    assert batch.model == "m" and sizes(batch) == [("x", 0, 1), ("y", 0, 1)]
    assert [(s.seed, s.class_index) for s in batch.segments] == [(5, None), (9, 2)]
    assert scheduler.next_batch().model == "other"
    assert scheduler.next_batch() is None


def test_round_robin_lets_a_small_request_overtake_a_large_one():
    scheduler = Scheduler(max_batch=2)
    scheduler.add(job(b"a", "big", 100))
    first = scheduler.next_batch()
    scheduler.add(job(b"b", "small", 1, model="other"))
    second = scheduler.next_batch()
    assert sizes(first) == [("big", 0, 1)] and sizes(second) == [("small", 0, 1)]


def test_paused_clients_are_skipped_and_removed_jobs_disappear():
    scheduler = Scheduler(max_batch=4)
    scheduler.add(job(b"slow", "s", 10))
    scheduler.add(job(b"fast", "f", 1))
    assert sizes(scheduler.next_batch(paused={b"slow"})) == [("f", 0, 1)]
    assert scheduler.next_batch(paused={b"slow"}) is None and scheduler.has_work()
    assert [j.request_id for j in scheduler.remove_client(b"slow")] == ["s"]
    assert not scheduler.has_work() and scheduler.next_batch() is None
    with pytest.raises(ValueError):
        Scheduler(max_batch=0)
