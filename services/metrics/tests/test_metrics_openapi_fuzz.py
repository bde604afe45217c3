"""metrics has no API of its own (its API port answers every path with a 404 problem): its HTTP
surface is the management port (/metrics for Prometheus, the probes, the docs), described by the
management document and checked with schemathesis's every check in every phase."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest_asyncio
from metrics_harness import MetricsHarness, private_group, private_topics
from signaalpunt_runtime.management_openapi import MANAGEMENT_DOCUMENT_PATH
from signaalpunt_testkit.contract import (
    PROBES_MAY_SAY_NOT_READY,
    contract_of,
    documented_operations,
)
from signaalpunt_testkit.plugin import Infra, TopicFactory


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def management(
    infra: Infra, kafka_topics: TopicFactory, database_url: str
) -> AsyncIterator[httpx.AsyncClient]:
    group = private_group()
    topics, watched = await private_topics(kafka_topics.private, group)
    harness = MetricsHarness(
        bootstrap=infra.kafka_bootstrap,
        database_url=database_url,
        topics=topics,
        watched=watched,
        group=group,
    )
    await harness.start()
    async with httpx.AsyncClient(base_url=harness.base_url, timeout=30) as client:
        # started (consumers subscribed): a probe's 503 while starting is its documented answer,
        # which schemathesis's no-server-error check would count as a fault
        for _ in range(240):
            if (await client.get("/startupz")).status_code == 200:
                break
            await asyncio.sleep(0.25)
        yield client
    await harness.stop()


async def test_the_management_contract_holds(management: httpx.AsyncClient) -> None:
    run = await contract_of(
        management,
        management,
        document=MANAGEMENT_DOCUMENT_PATH,
        max_examples=5,
        allowances=PROBES_MAY_SAY_NOT_READY,
    )
    assert run.clean, run.report()
    # every route; the document itself schemathesis may leave out (it read it already)
    documented = await documented_operations(management, MANAGEMENT_DOCUMENT_PATH)
    assert documented - {f"GET {MANAGEMENT_DOCUMENT_PATH}"} <= run.operations <= documented
    assert "GET /metrics" in run.operations
