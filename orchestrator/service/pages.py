"""What the ingress serves outside ``/v1``: the web page, its static files, health, readiness, metrics.

None of these needs an API key (the page asks for one and sends it with its API calls). The static
files are a fixed list read from the package: a request names one of them, never a path.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request, Response
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.concurrency import run_in_threadpool
from swagger_ui_bundle import swagger_ui_path

from orchestrator.service.assets import SCRIPTS, STATIC, STYLES
from orchestrator.service.limits import ApiError

__all__ = ["PAGE_SCRIPTS", "PAGE_STYLES", "page_html", "router"]

router = APIRouter()
PAGE_SCRIPTS = ("sse.js", "app.js")
"""The web page's own scripts, loaded after the renderer's."""
PAGE_STYLES = ("app.css",)
_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
_FILES = {name: (STATIC / name).read_bytes() for name in (*SCRIPTS, *STYLES, *PAGE_SCRIPTS, *PAGE_STYLES)}
_DOCS_FILES = {
    name: (Path(swagger_ui_path) / name).read_bytes() for name in ("swagger-ui-bundle.js", "swagger-ui.css")
}
_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' blob: data:; "
    "media-src blob:; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
)


def page_html() -> str:
    """The page, with the renderer's and the page's files linked in their load order."""
    styles = "\n".join(f'<link rel="stylesheet" href="/static/{name}">' for name in (*STYLES, *PAGE_STYLES))
    scripts = "\n".join(f'<script src="/static/{name}"></script>' for name in (*SCRIPTS, *PAGE_SCRIPTS))
    page = (STATIC / "index.html").read_text(encoding="utf-8")
    return page.replace("<!-- styles -->", styles).replace("<!-- scripts -->", scripts)


_PAGE = page_html()


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def index() -> HTMLResponse:
    return HTMLResponse(
        _PAGE, headers={"Content-Security-Policy": _POLICY, "X-Content-Type-Options": "nosniff"}
    )


@router.get("/static/{name}", include_in_schema=False)
def static(name: str) -> Response:
    data = _FILES.get(name)
    if data is None:
        raise ApiError(404, f"no static file {name!r}")
    media = _TYPES[name[name.rfind(".") :]]
    return Response(
        data, media_type=media, headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
    )


@router.get("/docs", include_in_schema=False)
def docs() -> HTMLResponse:
    """The OpenAPI page, its Swagger UI files served from here (no CDN: it works offline)."""
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="mm-reactor API",
        swagger_js_url="/docs-assets/swagger-ui-bundle.js",
        swagger_css_url="/docs-assets/swagger-ui.css",
        swagger_favicon_url="data:,",
    )


@router.get("/docs-assets/{name}", include_in_schema=False)
def docs_asset(name: str) -> Response:
    data = _DOCS_FILES.get(name)
    if data is None:
        raise ApiError(404, f"no file {name!r}")
    return Response(
        data, media_type=_TYPES[name[name.rfind(".") :]], headers={"Cache-Control": "max-age=86400"}
    )


@router.get("/healthz", summary="Liveness: the replica answers")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness: experts attached and the task database answers")
async def readyz(request: Request) -> JSONResponse:
    ready, why = await run_in_threadpool(request.app.state.host.ready)
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "detail": why}, status_code=200 if ready else 503
    )


@router.get("/metrics", summary="Prometheus metrics of this replica")
def metrics(request: Request) -> Response:
    return Response(request.app.state.host.metrics.exposition(), media_type="text/plain; version=0.0.4")
