"""The base of every pydantic model in VMKit: its validator is built on first use.

A Lambda cold start imports every model its module graph names, yet one invocation
validates a handful. Building each validator at class creation was most of a step
function's import time, so every model defers it (`defer_build`); the first
validation of a model builds it once per process. (A handler's `init_phase()` makes
that the default for the libraries' models too; this base keeps it for VMKit's models
wherever they are imported, the CLI included.)
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Model(BaseModel):
    model_config = ConfigDict(defer_build=True)
