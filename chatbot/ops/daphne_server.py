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
  socket as an error ("recv() failed (104: Connection reset by peer)")."""

from daphne.cli import CommandLineInterface
from daphne.server import Server
from daphne.ws_protocol import WebSocketFactory, WebSocketProtocol


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


class ChatServer(Server):
    """daphne's server, its websocket factory building ChatWebSocketProtocol. The factory is
    made inside `Server.run`, so the protocol is set as it is assigned."""

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
