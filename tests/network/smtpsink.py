"""A minimal SMTP server on loopback that keeps what it receives (enough for Django's SMTP backend)."""

from __future__ import annotations

import socket
import threading


class SmtpSink:
    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.sock.settimeout(10)
        self.port = self.sock.getsockname()[1]
        self.messages: list[dict] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        with conn, conn.makefile("rwb") as f:
            def say(line: str):
                f.write(line.encode() + b"\r\n")
                f.flush()

            say("220 sink ESMTP")
            msg = {"rcpt": [], "data": ""}
            for _ in range(64):  # bounded: one short conversation
                line = f.readline().decode().rstrip("\r\n")
                verb = line.split(" ", 1)[0].upper()
                if verb in ("EHLO", "HELO"):
                    say("250 sink")
                elif verb == "MAIL":
                    msg["from"] = line
                    say("250 ok")
                elif verb == "RCPT":
                    msg["rcpt"].append(line.split(":", 1)[1].strip(" <>"))
                    say("250 ok")
                elif verb == "DATA":
                    say("354 go on")
                    lines = []
                    for _ in range(2000):
                        data = f.readline().decode()
                        if data.rstrip("\r\n") == ".":
                            break
                        lines.append(data)
                    msg["data"] = "".join(lines)
                    self.messages.append(msg)
                    say("250 queued")
                elif verb == "QUIT":
                    say("221 bye")
                    return
                else:
                    say("250 ok")

    def close(self):
        self.sock.close()
