"""daphne with one change, run as `python -m chatbot.ops.daphne_server` with daphne's own
arguments: a websocket message over daphne's size limit (`--websocket-max-message-size`, 1 MiB)
no longer drops the TCP connection.

Autobahn fails such a socket by dropping it (`failByDrop`): the client sees close code 1006 and
nothing else, which breaks the protocol's promise that a bad frame gets an `error` frame and the
socket stays usable (docs/protocol.md). Here the message is read to its end but only its first
`limit` bytes are kept; the application gets that head, far over `CHAT_MAX_FRAME_BYTES`, and
answers with its own `too_long` error in the visitor's language. Memory per socket stays bounded
by the same limit as before. Neither daphne nor autobahn has an option for this, hence the
subclasses."""

from daphne.cli import CommandLineInterface
from daphne.server import Server
from daphne.ws_protocol import WebSocketFactory, WebSocketProtocol


class HeadKeepingWebSocketProtocol(WebSocketProtocol):
    """Keeps at most `maxMessagePayloadSize` bytes of a message and reads past the rest."""

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


class HeadKeepingServer(Server):
    """daphne's server, its websocket factory building HeadKeepingWebSocketProtocol. The factory
    is made inside `Server.run`, so the protocol is set as it is assigned."""

    @property
    def ws_factory(self) -> WebSocketFactory:
        return self._ws_factory

    @ws_factory.setter
    def ws_factory(self, factory: WebSocketFactory) -> None:
        factory.protocol = HeadKeepingWebSocketProtocol
        self._ws_factory = factory


class HeadKeepingCommandLine(CommandLineInterface):
    server_class = HeadKeepingServer


if __name__ == "__main__":
    HeadKeepingCommandLine.entrypoint()
