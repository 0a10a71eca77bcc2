"""``GET /v1/tftp/gate``: the TFTP server asks whether it may serve a board (issue 19, the ``tftp-deny``
boot-local methods). Bearer token: ``MALINA_TFTP_GATE_TOKEN`` (or the admin read token).

Read-only: one query, no history written (a booting board asks for a dozen files; the TFTP server caches each
answer for about a second). The answer is ``{"open": …, "reason": …, "machine": …, "method": …}``; a board the
backend does not know, or cannot tell apart, is closed. The TFTP server treats any failure to get an answer as
closed too: when in doubt a board boots local.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from backend.identity import norm_mac, norm_serial
from backend.routes.deps import Credentials, ServiceDep, SettingsDep, check_token
from backend.routes.params import bad_request, error_responses, parse
from backend.schemas import GateOut

router = APIRouter(tags=["tftp"], responses=error_responses(401, 503))
log = logging.getLogger("backend.tftp")


async def gate_access(credentials: Credentials, settings: SettingsDep) -> None:
    check_token(settings, credentials, [settings.tftp_gate_token, settings.read_token],
                disabled="the TFTP gate is disabled: neither MALINA_TFTP_GATE_TOKEN nor a read token is configured")


@router.get("/v1/tftp/gate", dependencies=[Depends(gate_access)], response_model=GateOut)
def tftp_gate(service: ServiceDep,
              serial: Annotated[str, Query(max_length=16, description="the board's serial, as its TFTP "
                                                                       "path prefix shows it (8 hex)")] = "",
              mac: Annotated[str, Query(max_length=32, description="the board's MAC (MAC path prefix)")] = "",
              client: Annotated[str, Query(max_length=64, description="the TFTP client's address (logged)")] = "",
              ) -> GateOut:
    if not serial and not mac:
        raise bad_request("query", "serial", "serial or mac is required", "")
    norm = parse("query", "serial", serial, norm_serial) if serial else None
    hw = parse("query", "mac", mac, norm_mac) if mac else None
    verdict = service.tftp_gate(norm, hw)
    if not verdict.open:
        log.info("TFTP gate closed for %s (client %s): %s", norm or hw, client or "?", verdict.reason)
    return GateOut.model_validate({"open": verdict.open, "reason": verdict.reason, "machine": verdict.machine,
                                   "method": verdict.method})
