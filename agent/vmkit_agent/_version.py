"""The agent's version. The build (`make agent AGENT_VERSION=x`) rewrites this file
inside the zipapp, so a test or a release can produce a "new version" without editing
the source tree."""

__version__ = "0.1.0"
