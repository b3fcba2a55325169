"""Sockets routed through the test: the chat server played by hand (the widget's socket answered
`hello`, `resume` and `ping` and sent whatever frames the test scripts), or the real server's
traffic held up (Stalling)."""

import json
import re

from playwright.sync_api import Page, WebSocketRoute


class ScriptedServer:
    def __init__(self, page: Page, history: tuple[dict, ...] = (), **hello: object) -> None:
        """`history`: stored messages, replayed on `resume`; `hello`: fields to add to the
        server's hello frame."""
        self.page = page
        self.history = history
        self.last_id = max((m["id"] for m in history), default=0)
        self.hello = hello
        self.sockets: list[WebSocketRoute] = []
        self.received: list[dict] = []
        page.route_web_socket(re.compile(r"/ws/chat/"), self._on_socket)

    def _on_socket(self, ws: WebSocketRoute) -> None:
        self.sockets.append(ws)

        def on_message(raw: str | bytes) -> None:
            frame = json.loads(raw)
            self.received.append(frame)
            if frame["type"] == "ping":
                ws.send(json.dumps({"type": "pong"}))
            if frame["type"] == "resume":
                replayed = [m for m in self.history if m["id"] > frame["after"]]
                for message in replayed:
                    ws.send(json.dumps({"type": "message", "message": message}))
                last_id = max(frame["after"], self.last_id) if replayed else frame["after"]
                ws.send(json.dumps({"type": "resumed", "last_id": last_id}))

        ws.on_message(on_message)
        hello = {"type": "hello", "v": 1, "conversation": "scripted", "token": "t0ken"}
        hello.update(locale="en", status="bot", last_id=self.last_id, **self.hello)
        ws.send(json.dumps(hello))

    def run_for(self, ms: int) -> None:
        """The page's clock forward `ms`, a few seconds at a time, the frames between let
        through: in one jump the widget's `ping` and this server's `pong` could not meet, and
        the widget gave the socket up as dead (docs/protocol.md, `ping`)."""
        while ms > 0:
            step = min(ms, 2_000)
            self.page.clock.run_for(step)
            self.page.wait_for_timeout(20)
            ms -= step

    def send(self, frame: dict) -> None:
        self.sockets[-1].send(json.dumps(frame))

    def sent(self, kind: str) -> list[dict]:
        return [f for f in self.received if f["type"] == kind]

    def wait_sent(self, kind: str, count: int) -> list[dict]:
        for _ in range(100):
            if len(self.sent(kind)) >= count:
                return self.sent(kind)
            self.page.wait_for_timeout(50)
        raise AssertionError(f"the widget never sent {count} {kind} frame(s): {self.received}")


class Stalling:
    """In front of the real server, every socket whose path holds `path`, its frames both ways;
    while `stalled` they go nowhere and the socket stays open: a laptop asleep, a train tunnel,
    a proxy dropping traffic."""

    def __init__(self, page: Page, path: str) -> None:
        self.stalled = False
        self.refusing = False  # new sockets are closed at once: a server down behind its proxy
        self.sockets = 0
        page.route_web_socket(re.compile(re.escape(path)), self._route)

    def _route(self, ws: WebSocketRoute) -> None:
        self.sockets += 1
        if self.refusing:
            ws.close(code=1011)
            return
        server = ws.connect_to_server()
        ws.on_message(lambda m: None if self.stalled else server.send(m))
        server.on_message(lambda m: None if self.stalled else ws.send(m))
