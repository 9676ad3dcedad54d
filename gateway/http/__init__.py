"""The gateway's HTTP/JSON + Server-Sent Events front, for browsers and plain HTTP clients.

Every route is one gRPC method of the contracts the gateway serves (`routes.py`, in the style of google.api.http /
AIP-127). A request is translated into that method's protobuf request (`translate.py`: protobuf JSON mapping, path
and query parameters filled in) and sent, with the client's `authorization` and `x-request-id`, to the gateway's
OWN gRPC port over a loopback channel. So there is one enforcement point: authentication, rate limits, the role
matrix, the proxy and the services' own checks apply exactly as they do for gRPC clients, and this package holds no
authorization logic at all. Replies and errors are translated back (`errors.py`: gRPC status → HTTP status, the
google.rpc.Status details as JSON); the two watch streams become Server-Sent Events (`sse.py`).

`app.py` is the ASGI application (request ids, access log, CORS, dispatch); `server.py` runs it with uvicorn inside
the gateway process as a companion of its gRPC server (services.common.server).
"""
