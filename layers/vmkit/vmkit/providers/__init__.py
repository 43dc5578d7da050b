"""Ports for the outside world (compute, DNS, forge) and their adapters.

Services depend on the ports; `vmkit.providers.factory` builds the adapters for a
compute target and the installation's settings. Every adapter turns its SDK's
errors into `ProviderError`, marking the ones worth retrying as transient.
"""
