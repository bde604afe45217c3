"""signals.erased.v1 in: a person erased means their case goes, with every sealed reason and
note; a reporter erased alone changes nothing here (triage keeps nothing of the reporter)."""

from __future__ import annotations

from signaalpunt_contracts import Envelope, ErasureScope, SignalErasedV1
from signaalpunt_runtime import UnitOfWork
from signaalpunt_runtime.logs import get_logger

from . import repository
from .handlers import Triage

log = get_logger(__name__)


def register_erasure(triage: Triage) -> None:
    @triage.service.consumer(triage.topics.erased, group="triage")
    async def on_erased(event: Envelope[SignalErasedV1], work: UnitOfWork) -> None:
        if event.data.scope is not ErasureScope.PERSON:
            return
        had_case = await repository.erase_case(work.connection, event.data.signal_id)
        log.info(
            "case erased",
            signal_id=str(event.data.signal_id),
            municipality=event.municipality,
            had_case=had_case,
        )
