"""One router per resource; `vmkit.rest.app` assembles them."""
