"""SessionTemplate: reusable sets of session-creation parameters."""

from __future__ import annotations

import json
from typing import Any

from hangar.client.func.base import BaseFunction


class SessionTemplate(BaseFunction):
    """A task template stored on the server, addressed by its id."""

    def __init__(self, template_id: str, owner_access_key: str | None = None) -> None:
        self.template_id = template_id
        self.owner_access_key = owner_access_key

    def __repr__(self) -> str:
        return f"<SessionTemplate {self.template_id}>"

    @classmethod
    async def create(
        cls,
        template: str,
        domain_name: str | None = None,
        group_name: str | None = None,
        owner_access_key: str | None = None,
    ) -> SessionTemplate:
        """Store ``template`` (YAML or JSON text) and return it bound to its new id."""
        config = cls._session().config
        body = {
            "payload": template,
            "domain_name": domain_name or config.domain,
            "group_name": group_name or config.group,
            "owner_access_key": owner_access_key,
        }
        result = await cls._call("POST", "/template/session", json=body)
        return cls(result["id"], owner_access_key=owner_access_key)

    @classmethod
    async def list_templates(cls, list_all: bool = False) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await cls._call(
            "GET", "/template/session", json={"all": list_all}
        )
        return result

    def _params(self, **extra: Any) -> dict[str, Any]:
        params = dict(extra)
        if self.owner_access_key:
            params["owner_access_key"] = self.owner_access_key
        return params

    async def get(self, body_format: str = "yaml") -> str:
        """The template as text (``yaml`` or ``json``)."""
        result = await self._call(
            "GET",
            f"/template/session/{self.template_id}",
            params=self._params(format=body_format),
        )
        if isinstance(result, str):
            return result
        if body_format == "yaml":
            import yaml

            return str(yaml.safe_dump(result, sort_keys=False, allow_unicode=True))
        return json.dumps(result, indent=2)

    async def put(self, template: str) -> Any:
        """Replace the template's content with ``template`` (YAML or JSON text)."""
        body = self._params(payload=template)
        return await self._call("PUT", f"/template/session/{self.template_id}", json=body)

    async def delete(self) -> Any:
        return await self._call(
            "DELETE", f"/template/session/{self.template_id}", params=self._params()
        )
