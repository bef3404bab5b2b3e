"""Extension points: experts, controller backends, checkpointers and artifact stores, found one way.

An extension is named in the config by a registered name (a Python entry point in its group, as
the built-ins are registered) or by a ``class: package.module:Name`` path. This package depends on
nothing of mm-reactor, so ``experts/``, ``llm/`` and ``orchestrator/`` may all import it.
"""

from extensions.extras import EXTRAS, MissingExtra, extra_providing, install_line, missing_modules
from extensions.lookup import (
    ARTIFACT_STORES,
    CHECKPOINTERS,
    EXPERTS,
    GROUPS,
    LLM_BACKENDS,
    ExtensionNotFound,
    load_named,
    load_path,
    registered,
)
from extensions.ref import ArtifactStoreSetting, CheckpointerSetting, ExtensionRef, LLMBackendSetting, resolve

__all__ = [
    "ARTIFACT_STORES",
    "CHECKPOINTERS",
    "EXPERTS",
    "EXTRAS",
    "GROUPS",
    "LLM_BACKENDS",
    "ArtifactStoreSetting",
    "CheckpointerSetting",
    "ExtensionNotFound",
    "ExtensionRef",
    "LLMBackendSetting",
    "MissingExtra",
    "extra_providing",
    "install_line",
    "load_named",
    "load_path",
    "missing_modules",
    "registered",
    "resolve",
]
