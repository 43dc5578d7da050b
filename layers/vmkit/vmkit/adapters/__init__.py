"""Adapters: the ports of `vmkit.ports` over real SDKs (hcloud, cloudflare, githubkit, boto3).

`vmkit.deps.Deps` builds them; services never import this package. Every adapter turns
its SDK's errors into domain errors (`ProviderError`, transient where a retry helps),
so no SDK exception type leaks past it.
"""
