import collections, os
import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test
import tests.test_state_machine_hypothesis as m
from oms.core.errors import ApplicationError

STATS = collections.Counter()
real = m.dispatch
def counting(topic, body, **kw):
    try:
        r = real(topic, body, **kw)
    except ApplicationError as e:
        STATS[body["commandType"] + ":" + e.code] += 1
        raise
    STATS[body["commandType"] + (":dup" if r.body.get("duplicate") else "")] += 1
    for e in r.events:
        STATS["ev:" + e["type"]] += 1
        if e["type"] == "ExecutionHeld": STATS["held:" + ",".join(e["data"]["reviewReasons"])] += 1
    return r

@pytest.mark.django_db
def test_stats(monkeypatch):
    monkeypatch.setattr(m, "dispatch", counting)
    run_state_machine_as_test(m.OrderMachine, settings=settings(max_examples=int(os.environ.get("N", 40)), stateful_step_count=int(os.environ.get("S", 50)), deadline=None, database=None, suppress_health_check=list(HealthCheck)))
    for k, v in sorted(STATS.items()):
        print(k, v)
