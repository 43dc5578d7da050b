"""VMKit's control plane on one machine, offline.

- `core`: the template-on-moto engine (`LocalStack`), generic over any SAM template.
- `simulators`: Hetzner Cloud, Cloudflare DNS and GitHub, behind their real SDKs.
- `sandbox`: the stand-in VMs that run cloud-init, the agent and `kamal deploy`.

The modules at this level are the entry points and VMKit's wiring of those parts:
`python -m vmkit_local` (`cli`), `embedded` (what `vmkit local up`, `make demo` and the
e2e tests run), `demo`, `actions_runner` and the pytest fixtures in `testing`. This
package imports nothing on its own, so `python -m vmkit_local.sandbox.containerd_shim`
stays cheap to start.
"""
