"""daphne with two changes, run as `python -m chatbot.ops.daphne_server` with daphne's own
arguments. Neither daphne nor autobahn has an option for them, hence the subclasses.

- A websocket message over daphne's size limit (`--websocket-max-message-size`, 1 MiB) no
  longer drops the TCP connection. Autobahn fails such a socket by dropping it (`failByDrop`):
  the client sees close code 1006 and nothing else, which breaks the protocol's promise that a
  bad frame gets an `error` frame and the socket stays usable (docs/protocol.md). Here the
  message is read to its end but only its first `limit` bytes are kept; the application gets
  that head, far over `CHAT_MAX_FRAME_BYTES`, and answers with its own `too_long` error in the
  visitor's language. Memory per socket stays bounded by the same limit as before.
- A close the server started (4403, 4429, a shutdown) ends the TCP connection with FIN, not
  RST: autobahn aborts it once the client has answered the close, and nginx logged each such
  socket as an error ("recv() failed (104: Connection reset by peer)").
- Twisted no longer parses a POST's form body into `request.args`, which daphne never reads:
  it read each multipart or urlencoded body whole into memory, twice (the bytes and the parsed
  fields), and the request kept them until the interpreter's rare full collection. A security
  walk grew a process by 1.1 GB with anonymous 50 MB posts answered 403.
- A request body over its path's limit (chatbot.security.body_limits) is read and dropped,
  never stored: daphne read every body whole before the application could refuse it. The
  uploads' views then get the request without its body and answer from its Content-Length;
  any other path gets 413 at once, with the page nginx shows for it (static/errors).
- The access log is the app's own log lines (logger `chatbot.access`, JSON by default), not
  daphne's NCSA text on stdout between them, and without query strings (the page a visitor was
  on rode in `/widget/greeting?path=…`), as nginx's log is; health probes at DEBUG."""

import logging
from pathlib import Path
from typing import Any

from daphne.cli import CommandLineInterface
from daphne.http_protocol import HTTPFactory, WebRequest
from daphne.server import Server
from daphne.ws_protocol import WebSocketFactory, WebSocketProtocol
from twisted.web import http

from chatbot.security.body_limits import body_limit, has_session_cookie, view_answers_too_large

logger = logging.getLogger(__name__)
access_logger = logging.getLogger("chatbot.access")
PROBE_PATHS = ("/healthz", "/readyz")  # a balancer asks every few seconds: not news
WEBSOCKET_ACTIONS = ("rejected", "connected", "disconnected")
TOO_LARGE_PAGE = (Path(__file__).resolve().parents[2] / "static/errors/too-large.html").read_bytes()


class _Dropped:
    """Where a body over the limit goes."""

    closed = False

    def write(self, data: bytes) -> None:
        pass

    def seek(self, *args: Any) -> None:
        pass

    def tell(self) -> int:
        return 0

    def read(self, size: int = -1) -> bytes:
        return b""

    def close(self) -> None:
        pass


class BoundedWebRequest(WebRequest):
    """daphne's request, refusing a body over its path's limit before storing any of it."""

    refused = False  # answered 413 here
    dropped = False  # the body goes nowhere (refused, or the view answers)
    _parsePOSTFormSubmission = False  # Twisted's own form parsing, for `args` (see above)

    def gotLength(self, length: int | None) -> None:
        self.body_path = (self.channel._path or b"/").split(b"?", 1)[0].decode("latin-1")
        cookies = self.requestHeaders.getRawHeaders(b"cookie") or []
        self.body_limit = body_limit(self.body_path, has_session=has_session_cookie(cookies))
        self.body_seen = 0
        if length is not None and length > self.body_limit:
            self._drop()
            return
        super().gotLength(length)

    def handleContentChunk(self, data: bytes) -> None:
        self.body_seen += len(data)
        if not self.dropped and self.body_seen > self.body_limit:  # chunked, no length given
            self.content.close()
            self._drop()
        if not self.dropped:
            super().handleContentChunk(data)

    def _drop(self) -> None:
        logger.warning(
            "request body over the %d bytes %s may send: dropped unread",
            self.body_limit,
            self.body_path,
        )
        self.dropped = True
        self.content = _Dropped()
        if not view_answers_too_large(self.body_path):
            self._refuse()

    def _refuse(self) -> None:
        """413 now; the connection closes once the client has sent its body (closed earlier, a
        client still writing gets a reset instead of the answer)."""
        self.refused = True
        self.channel.persistent = False
        self.channel.transport.write(
            b"HTTP/1.1 413 Payload Too Large\r\nContent-Type: text/html; charset=utf-8\r\n"
            b"Connection: close\r\nContent-Length: %d\r\n\r\n%s"
            % (len(TOO_LARGE_PAGE), TOO_LARGE_PAGE)
        )

    def process(self) -> None:
        if self.refused:
            self.channel.transport.loseConnection()
            return
        super().process()


class BoundedHTTPFactory(HTTPFactory):
    def buildProtocol(self, addr: Any) -> http.HTTPChannel:
        protocol = super().buildProtocol(addr)
        protocol.requestFactory = BoundedWebRequest
        return protocol


class ChatWebSocketProtocol(WebSocketProtocol):
    """Keeps at most `maxMessagePayloadSize` bytes of a message and reads past the rest; closes
    a cleanly closed connection gently."""

    def onMessageBegin(self, isBinary: bool) -> None:
        super().onMessageBegin(isBinary)
        self.kept_bytes = 0
        self.cut = False

    def onMessageFrameBegin(self, length: int) -> None:
        # autobahn's version fails the connection here when the size is over the limit.
        self.frame_length = length
        self.frame_data = []
        self.message_data_total_length += length

    def onMessageFrameData(self, payload: bytes) -> None:
        limit = self.maxMessagePayloadSize
        if limit > 0 and self.kept_bytes + len(payload) > limit:
            self.cut = True
            payload = payload[: max(limit - self.kept_bytes, 0)]
        if payload:
            self.frame_data.append(payload)
            self.kept_bytes += len(payload)

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        if self.cut and not isBinary:
            # The cut may fall inside a character; daphne decodes strictly.
            payload = payload.decode("utf-8", "ignore").encode("utf-8")
        super().onMessage(payload, isBinary)

    def dropConnection(self, abort: bool = False) -> None:
        super().dropConnection(abort=abort and not self.wasClean)


def access_line(protocol: str, action: str, details: dict[str, Any]) -> None:
    """daphne's action logger: one log line per HTTP response and per websocket's connect,
    rejection and disconnect."""
    path = str(details.get("path") or "").split("?", 1)[0]
    fields = {"protocol": protocol, "client": details.get("client"), "path": path}
    if protocol == "http" and action == "complete":
        fields.update(
            method=details["method"],
            status=details["status"],
            bytes=details.get("size"),
            duration_ms=round(details["time_taken"] * 1000, 1),
        )
        level = logging.DEBUG if path in PROBE_PATHS else logging.INFO
        access_logger.log(
            level, "%s %s %s", details["method"], path, details["status"], extra=fields
        )
    elif protocol == "websocket" and action in WEBSOCKET_ACTIONS:
        access_logger.info("websocket %s %s", action, path, extra={**fields, "action": action})


class ChatServer(Server):
    """daphne's server, its websocket factory building ChatWebSocketProtocol and its HTTP
    factory BoundedWebRequest. The factories are made inside `Server.run`, so they are set as
    they are assigned."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if kwargs.get("action_logger") is not None:  # daphne's NCSA lines on stdout
            kwargs["action_logger"] = access_line
        super().__init__(*args, **kwargs)

    @property
    def http_factory(self) -> HTTPFactory:
        return self._http_factory

    @http_factory.setter
    def http_factory(self, factory: HTTPFactory) -> None:
        self._http_factory = BoundedHTTPFactory(self) if type(factory) is HTTPFactory else factory

    @property
    def ws_factory(self) -> WebSocketFactory:
        return self._ws_factory

    @ws_factory.setter
    def ws_factory(self, factory: WebSocketFactory) -> None:
        factory.protocol = ChatWebSocketProtocol
        self._ws_factory = factory


class ChatServerCommandLine(CommandLineInterface):
    server_class = ChatServer


if __name__ == "__main__":
    ChatServerCommandLine.entrypoint()
