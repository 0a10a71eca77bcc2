"""The HTTP API's routes, one ``APIRouter`` per client: ``hook``, ``agent``, ``admin``, ``tftp`` (the TFTP
gate), ``health``, ``leases`` (board leases shared by CI hosts), ``metrics`` (Prometheus) and ``ui`` (the
operators' web page); ``hookauth`` is the options route's one trust check."""

from backend.routes import admin, agent, health, hook, hookauth, leases, metrics, tftp, ui

ROUTERS = (hook.router, agent.router, admin.router, tftp.router, health.router, leases.router, metrics.router,
           ui.router)

__all__ = ["ROUTERS", "admin", "agent", "health", "hook", "hookauth", "leases", "metrics", "tftp", "ui"]
