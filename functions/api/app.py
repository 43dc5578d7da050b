"""REST API on API Gateway (HTTP API): the FastAPI app behind Mangum."""

from mangum import Mangum

from vmkit.rest import create_app

handler = Mangum(create_app(), lifespan="off")
