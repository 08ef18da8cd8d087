"""Document numbers (文号): in sequence per issuer and year, never the same twice, even issued at once."""
from concurrent.futures import ThreadPoolExecutor

import pytest

from engine.clock import parse_instant
from engine.commands import Engine
from engine.errors import InstanceFailed

from .helpers import CLERK, deploy


def issue(engine, issuer: str) -> str:
    result = engine.start("numbered", CLERK, {"issuer": issuer})
    return engine.show(result["instance"])["data"]["document_number"]


def test_numbers_run_in_sequence_per_issuer_and_start_again_each_year(engine, clock):
    deploy(engine, "numbered")
    assert [issue(engine, "government") for _ in range(3)] == [f"区政发〔2026〕{n}号" for n in (1, 2, 3)]
    assert issue(engine, "office") == "区政办发〔2026〕1号"
    clock.set(parse_instant("2027-01-01T00:00:00+08:00"))
    assert issue(engine, "government") == "区政发〔2027〕1号"


def test_an_unknown_issuer_fails_the_instance_with_the_reason(engine):
    deploy(engine, "numbered")
    with pytest.raises(InstanceFailed, match="unknown issuer 'city'"):
        issue(engine, "city")


def test_documents_issued_at_the_same_moment_never_share_a_number(engine, database_url, clock):
    deploy(engine, "numbered")
    engines = [Engine(database_url, clock=clock) for _ in range(4)]  # four processes, each its own connections
    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            numbers = list(pool.map(lambda n: issue(engines[n % 4], "government"), range(24)))
    finally:
        for other in engines:
            other.db.dispose()
    assert sorted(numbers, key=lambda text: int(text.split("〕")[1][:-1])) == [
        f"区政发〔2026〕{n}号" for n in range(1, 25)]
