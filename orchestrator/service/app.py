"""The ingress's FastAPI application: the ``/v1`` API, the web page, health and metrics, one error shape."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse

from orchestrator.service import api, pages
from orchestrator.service.host import ServiceHost
from orchestrator.service.limits import ApiError

__all__ = ["create_app"]

DESCRIPTION = """mm-reactor as a service: submit a task with images, follow its events, fetch its Result and
artifacts. Every `/v1` route needs `Authorization: Bearer <API key>`."""


def create_app(host: ServiceHost) -> FastAPI:
    """The application serving ``host`` (one ingress replica's service)."""
    app = FastAPI(
        title="mm-reactor",
        description=DESCRIPTION,
        version="1",
        docs_url=None,  # pages.py serves /docs with local Swagger UI files
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.host = host
    app.include_router(api.router)
    app.include_router(pages.router)
    origins = host.service.cors_origins
    if origins:  # off unless configured
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "Last-Event-ID"],
        )

    @app.exception_handler(ApiError)
    async def api_error(request: Request, err: ApiError) -> JSONResponse:
        if err.status >= 400:
            host.metrics.refused.labels(str(err.status)).inc()
        return JSONResponse({"error": err.message}, status_code=err.status, headers=err.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, err: RequestValidationError) -> JSONResponse:
        host.metrics.refused.labels("422").inc()
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors())
        return JSONResponse({"error": f"invalid request: {problems}"}, status_code=422)

    return app
