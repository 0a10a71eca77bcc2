"""``/v1/admin/...``: the operators' API. Bearer token: the read token for GETs, the write token for changes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from backend.routes.deps import READ, WRITE, ServiceDep
from backend.routes.params import NAME_PATH, bad_request, error_responses
from backend.schemas import (
    ActionOut,
    BootLocalMethodIn,
    HistoryOut,
    ImportIn,
    ImportOut,
    MachineIn,
    MachineList,
    MachineOut,
)

router = APIRouter(tags=["admin"], responses=error_responses(400, 401, 403, 404, 409, 503))
Name = Annotated[str, NAME_PATH]


@router.get("/v1/admin/machines", dependencies=READ, response_model=MachineList)
def list_machines(service: ServiceDep) -> MachineList:
    return MachineList(machines=service.list_machines())


@router.post("/v1/admin/machines", dependencies=WRITE, response_model=MachineOut, status_code=201)
def add_machine(body: MachineIn, service: ServiceDep) -> MachineOut:
    return service.add(body)


@router.post("/v1/admin/import", dependencies=WRITE, response_model=ImportOut)
def import_machines(body: ImportIn, service: ServiceDep) -> ImportOut:
    """Create or redefine many machines in one transaction (all or nothing)."""
    return service.import_machines(body.machines)


@router.get("/v1/admin/machines/{name}", dependencies=READ, response_model=MachineOut)
def get_machine(name: Name, service: ServiceDep) -> MachineOut:
    return service.get_machine(name)


@router.put("/v1/admin/machines/{name}", dependencies=WRITE, response_model=MachineOut,
            responses={201: {"model": MachineOut}})
def put_machine(name: Name, body: MachineIn, response: Response, service: ServiceDep) -> MachineOut:
    """Create or redefine; a changed definition cancels a running install and clears the flag."""
    if body.name != name:
        raise bad_request("body", "name", f"the body names {body.name!r} but the path names {name!r}", body.name)
    machine, created = service.put(body)
    response.status_code = 201 if created else 200
    return machine


@router.post("/v1/admin/machines/{name}/reinstall", dependencies=WRITE, response_model=ActionOut)
def reinstall(name: Name, service: ServiceDep) -> ActionOut:
    return service.reinstall(name)


@router.post("/v1/admin/machines/{name}/set-local", dependencies=WRITE, response_model=ActionOut)
def set_local(name: Name, service: ServiceDep) -> ActionOut:
    return service.set_local(name)


@router.put("/v1/admin/machines/{name}/boot-local-method", dependencies=WRITE, response_model=ActionOut)
def set_boot_local_method(name: Name, body: BootLocalMethodIn, service: ServiceDep) -> ActionOut:
    """The machine's own boot-local method (``null``: the lab's); attempts, flag and boot mode stay as they are."""
    return service.set_boot_local_method(name, body.method)


@router.get("/v1/admin/machines/{name}/history", dependencies=READ, response_model=HistoryOut)
def history(name: Name, service: ServiceDep,
            limit: Annotated[int, Query(ge=1, le=10_000)] = 200) -> HistoryOut:
    return service.history(name, limit)
