"""The HTTP API's routes, one ``APIRouter`` per client: ``hook``, ``agent``, ``admin``, ``health``."""

from backend.routes import admin, agent, health, hook

ROUTERS = (hook.router, agent.router, admin.router, health.router)

__all__ = ["ROUTERS", "admin", "agent", "health", "hook"]
