"""A loopback proxy in front of an HTTP server (the stack's S3) that can play an outage: while
``unavailable`` is set it answers every request with 503 and an S3 error body, the way an
overloaded S3 endpoint or a load balancer in front of a restarting one does; otherwise it
forwards bytes untouched. Switching to unavailable cuts the open connections, so a client's
kept-alive connection cannot slip past the outage."""

from __future__ import annotations

import socket
import threading

_BODY = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
         b"<Message>Please reduce your request rate.</Message></Error>")
_RESPONSE = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/xml\r\nConnection: close\r\n"
             b"Content-Length: " + str(len(_BODY)).encode() + b"\r\n\r\n" + _BODY)


class OutageProxy:
    """Forwards 127.0.0.1:<port> to ``target``; ``set_unavailable(True)`` starts the outage."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.refused_requests = 0
        self._unavailable = False
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self._accept, daemon=True).start()

    def set_unavailable(self, unavailable: bool) -> None:
        with self._lock:
            self._unavailable = unavailable
            cut, self._open = self._open, set()
        for sock in cut:
            _close(sock)

    def close(self) -> None:
        self._listener.close()
        self.set_unavailable(False)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                unavailable = self._unavailable
            if unavailable:
                threading.Thread(target=self._refuse, args=(client,), daemon=True).start()
                continue
            server = socket.create_connection(self.target)
            with self._lock:
                self._open |= {client, server}
            threading.Thread(target=self._pipe, args=(client, server), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client), daemon=True).start()

    def _refuse(self, client: socket.socket) -> None:
        try:
            client.settimeout(10)
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = client.recv(65536)
                if not chunk:
                    return
                head += chunk
            self.refused_requests += 1
            client.sendall(_RESPONSE)
        except OSError:
            pass
        finally:
            _close(client)

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            _close(src)
            _close(dst)


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
