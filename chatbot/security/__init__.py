"""Guards on what browsers and embedding sites send: websocket origins, the visitor's address
behind proxies, abuse limits, signed identities, CSP violation reports (docs/security.md).
A plain package, not an app: `CspReport` is the core's model."""
