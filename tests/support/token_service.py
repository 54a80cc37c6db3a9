"""A Docker-style token service for the loopback registry's Bearer auth.

``GET /token?service=…&scope=repository:NAME:pull,push`` with Basic credentials answers
``{"token": JWT}``: RS256, signed by a self-signed certificate the registry trusts
(``rootcertbundle``), the certificate in the header's ``x5c``, access granted to the scopes
asked for. Wrong credentials get 401; anonymous asks get a token with no access.
"""

from __future__ import annotations

import base64
import datetime
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID


def _certificate() -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hangar-test-token")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    return key, cert


@dataclass
class TokenServer:
    cert_path: Path
    username: str
    password: str
    service: str = "hangar-test-registry"
    issuer: str = "hangar-test-issuer"
    realm: str = ""
    issued: list[str] = field(default_factory=list)  # scopes of the tokens handed out
    _key: rsa.RSAPrivateKey | None = None
    _cert: x509.Certificate | None = None
    _server: ThreadingHTTPServer | None = None

    @classmethod
    def start(cls, root: Path, username: str, password: str) -> TokenServer:
        key, cert = _certificate()
        path = root / "token-cert.pem"
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        server = cls(path, username, password, _key=key, _cert=cert)
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), server._handler())
        server._server = httpd
        server.realm = f"http://127.0.0.1:{httpd.server_address[1]}/token"
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        return server

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def token(self, scopes: list[str], granted: bool) -> str:
        assert self._key is not None and self._cert is not None
        access = []
        for scope in scopes if granted else []:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            access.append({"type": kind, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        claims = {"iss": self.issuer, "sub": self.username, "aud": self.service,
                  "exp": now + 300, "nbf": now - 10, "iat": now, "jti": uuid.uuid4().hex,
                  "access": access}  # fmt: skip
        der = self._cert.public_bytes(serialization.Encoding.DER)
        headers = {"x5c": [base64.b64encode(der).decode()]}
        return jwt.encode(claims, self._key, algorithm="RS256", headers=headers)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                query = parse_qs(urlsplit(self.path).query)
                scopes = query.get("scope", [])
                auth = self.headers.get("Authorization", "")
                granted = False
                if auth.startswith("Basic "):
                    user, _, pw = base64.b64decode(auth[6:]).decode().partition(":")
                    if (user, pw) != (service.username, service.password):
                        self.send_response(401)
                        self.end_headers()
                        return
                    granted = True
                service.issued.append(" ".join(scopes) if granted else "anonymous")
                body = json.dumps({"token": service.token(scopes, granted)}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        return Handler
