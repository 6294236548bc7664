"""Files to download, as artifact and icon hosts and Google Drive serve them.

* ``/files/<name>``: files added with :meth:`FileServer.add` (any size, optional delay per
  answer, a status other than 200, extra headers such as ``Content-Encoding`` or ``Location``);
  unknown names answer 404;
* ``/drip/<name>``: a hostile host (:meth:`FileServer.drip`) sending its answer one byte at a time,
  the body only or the status line and headers too;
* ``/redirect/<n>?to=<url>``: ``n`` redirects, then to ``url``;
* ``/uc?export=download&id=<id>``: a Drive download link, with the file's MIME type and name;
* ``/drive/v3/files/<id>`` (metadata) and ``?alt=media``: the Drive API v3, for a bearer
  token from ``/token`` (the service-account token endpoint);
* ``/storage/<key>``: the directory a ``local`` storage writes to (:meth:`FileServer.serve_directory`).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from sandbox.routes import Call, Raw, Reply, Router


TOKEN = "sandbox-drive-token"


@dataclass(frozen=True)
class HostedFile:
    data: bytes
    content_type: str
    name: str
    delay_s: float = 0.0
    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    drip_s: float = 0.0  # /drip/: the wait between two bytes
    drip_headers: bool = False  # /drip/: the status line and headers drip too
    drip_head: bytes | None = None  # /drip/: sent at once instead of the usual status line and headers


DRIVE_HOST = "localhost"  # the sandbox's Drive host (content_auto_creator.gdrive.hosts)


class FileServer:
    def __init__(self, server: Router):
        self._url = server.url
        self._lock = threading.Lock()
        self._files: dict[str, HostedFile] = {}
        self._drive: dict[str, HostedFile] = {}
        self.storage_dir: Path | None = None
        server.route("GET", r"/files/(?P<name>[^/]+)", self._file, blocking=True)  # sleeps a file's delay_s
        server.route("GET", r"/drip/(?P<name>[^/]+)", self._drip)
        server.route("POST", r"/drip/(?P<name>[^/]+)", self._drip)  # a token endpoint that stalls
        server.route("GET", r"/redirect/(?P<hops>\d+)", self._redirect)
        server.route("GET", r"/uc", self._drive_link)
        server.route("GET", r"/drive/v3/files/(?P<id>[^/]+)", self._drive_api)
        server.route("POST", r"/token", self._token)
        server.route("GET", r"/storage/(?P<key>.+)", self._stored)

    def add(self, name: str, data: bytes, content_type: str = "application/octet-stream", delay_s: float = 0.0,
            status: int = 200, headers: dict[str, str] | None = None) -> str:
        """Host a file; its URL. ``headers`` are sent as given (a ``Content-Encoding`` for ``data``
        already compressed, a ``Location`` with a 3xx status)."""
        with self._lock:
            self._files[name] = HostedFile(data, content_type, name, delay_s, status, tuple((headers or {}).items()))
        return f"{self._url}/files/{name}"

    def drip(self, name: str, data: bytes, every_s: float, headers: bool = False, head: bytes | None = None) -> str:
        """Host a file sent one byte every ``every_s`` (with ``headers``: from the status line on); its URL.
        ``head`` is sent at once instead of the status line and headers, for answers that break HTTP
        (a head cut short, a length that is not a number, no length at all)."""
        with self._lock:
            self._files[name] = HostedFile(data, "application/octet-stream", name, drip_s=every_s,
                                           drip_headers=headers, drip_head=head)
        return f"{self._url}/drip/{name}"

    def add_drive(self, file_id: str, name: str, data: bytes, mime_type: str, location: str | None = None) -> str:
        """Host a Drive file; its ``uc?export=download`` link, on :data:`DRIVE_HOST` (a Drive host serves
        only Drive links, so the sandbox's other files stay on 127.0.0.1). With ``location``, the link
        answers a redirect there (as Drive sends downloads to ``drive.usercontent.google.com``)."""
        headers = (("Location", location),) if location else ()
        with self._lock:
            self._drive[file_id] = HostedFile(data, mime_type, name, status=302 if location else 200, headers=headers)
        return f"{self.drive_url}/uc?export=download&id={file_id}"

    @property
    def drive_url(self) -> str:
        """Where the sandbox answers Drive's routes under a Drive host name of its own."""
        return self._url.replace("127.0.0.1", DRIVE_HOST, 1)

    def redirect(self, url: str, hops: int = 1) -> str:
        return f"{self._url}/redirect/{hops}?to={url}"

    def serve_directory(self, directory: Path) -> str:
        """Serve a local storage directory; the public base URL to configure."""
        self.storage_dir = Path(directory)
        return f"{self._url}/storage"

    def _file(self, call: Call) -> Reply:
        hosted = self._files.get(unquote(call.match["name"]))
        if hosted is None:
            return Reply(404, "<html><body>Not Found</body></html>")
        if hosted.delay_s:
            time.sleep(hosted.delay_s)
        return Reply(hosted.status, hosted.data, {"Content-Type": hosted.content_type, **dict(hosted.headers)})

    def _drip(self, call: Call) -> Reply:
        hosted = self._files.get(unquote(call.match["name"]))
        if hosted is None or not hosted.drip_s:
            return Reply(404, "<html><body>Not Found</body></html>")
        head = hosted.drip_head if hosted.drip_head is not None else (
            f"HTTP/1.1 200 OK\r\nContent-Type: {hosted.content_type}\r\nContent-Length: {len(hosted.data)}\r\n\r\n"
        ).encode()

        def write(wfile) -> None:
            if not hosted.drip_headers:
                wfile.write(head)
            for byte in (head if hosted.drip_headers else b"") + hosted.data:
                time.sleep(hosted.drip_s)
                wfile.write(bytes([byte]))  # raises once the client has hung up

        return Reply(200, Raw(write))

    def _redirect(self, call: Call) -> Reply:
        hops = int(call.match["hops"])
        target = call.query.get("to", "")
        location = f"{self._url}/redirect/{hops - 1}?to={target}" if hops > 1 else target
        return Reply(302, "", {"Location": location})

    def _drive_link(self, call: Call) -> Reply:
        hosted = self._drive.get(call.query.get("id", ""))
        if call.query.get("export") != "download" or hosted is None:
            return Reply(404, "<html><body>Google Drive - file not found</body></html>")
        if hosted.status != 200:
            return Reply(hosted.status, "", dict(hosted.headers))
        return Reply(200, hosted.data, {"Content-Type": hosted.content_type,
                                        "Content-Disposition": f'attachment; filename="{hosted.name}"'})

    def _drive_api(self, call: Call) -> Reply:
        if call.headers.get("Authorization") != f"Bearer {TOKEN}":
            return Reply(401, {"error": {"code": 401, "message": "Request had invalid authentication credentials."}})
        hosted = self._drive.get(call.match["id"])
        if hosted is None:
            return Reply(404, {"error": {"code": 404, "message": "File not found."}})
        if call.query.get("alt") == "media":
            return Reply(200, hosted.data, {"Content-Type": hosted.content_type})
        return Reply(200, {"id": call.match["id"], "name": hosted.name, "mimeType": hosted.content_type,
                           "size": str(len(hosted.data))})

    def _token(self, call: Call) -> Reply:
        form = dict(p.split("=", 1) for p in call.raw.decode().split("&") if "=" in p)
        if form.get("assertion", "").count(".") != 2:
            return Reply(400, {"error": "invalid_grant"})
        return Reply(200, {"access_token": TOKEN, "expires_in": 3600, "token_type": "Bearer"})

    def _stored(self, call: Call) -> Reply:
        if self.storage_dir is None:
            return Reply(404, "<html><body>no storage</body></html>")
        root = self.storage_dir.resolve()
        path = (root / unquote(call.match["key"])).resolve()
        if root not in path.parents or not path.is_file():
            return Reply(404, "<html><body>Not Found</body></html>")
        return Reply(200, path.read_bytes())
