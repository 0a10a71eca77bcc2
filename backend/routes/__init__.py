"""The HTTP API's routes, one ``APIRouter`` per client: ``hook``, ``agent``, ``admin``, ``health``, ``leases``."""

from backend.routes import admin, agent, health, hook, leases

ROUTERS = (hook.router, agent.router, admin.router, health.router, leases.router)

__all__ = ["ROUTERS", "admin", "agent", "health", "hook", "leases"]
