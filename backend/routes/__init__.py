"""The HTTP API's routes, one ``APIRouter`` per client: ``hook``, ``agent``, ``admin``, ``tftp``, ``health``."""

from backend.routes import admin, agent, health, hook, tftp

ROUTERS = (hook.router, agent.router, admin.router, tftp.router, health.router)

__all__ = ["ROUTERS", "admin", "agent", "health", "hook", "tftp"]
