"""The HTTP API's routes, one ``APIRouter`` per client: ``hook``, ``agent``, ``admin``, ``health``, ``metrics``
(Prometheus) and ``ui`` (the operators' web page)."""

from backend.routes import admin, agent, health, hook, metrics, ui

ROUTERS = (hook.router, agent.router, admin.router, health.router, metrics.router, ui.router)

__all__ = ["ROUTERS", "admin", "agent", "health", "hook", "metrics", "ui"]
