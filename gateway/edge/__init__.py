"""The gateway's edge: what every call meets before a handler, and how re-exposed calls reach the services.

- `interceptor`: authenticate, rate limit, authorize (the matrix, then the request's escalation), take a stream
  slot, then check the request (EdgeInterceptor);
- `authz_matrix` and `escalations`: the minimum role of every method, and the requests that need more;
- `ratelimit` (token buckets, stream slots) and `failed_auth` (failed authentications, limited before any
  verification work): the edge's limits, in memory per replica;
- `proxy`: the generic relay of the services' own contracts, with the caller's principal signed for the backend.
"""
