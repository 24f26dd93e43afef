"""Store v3 client: one query, or every page of a query.

Errors: PeerUnreachable (no stream, timeout, peer hung up), StoreQueryError (the store answered
with a non-2xx status; the response is attached), RemoteProtocolError (a malformed response).
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator, Callable

from libp2p.abc import IHost
from libp2p.peer.id import ID

from ...core.errors import RemoteProtocolError
from ...net.reqresp import DEFAULT_TIMEOUT, request
from .codec import MAX_RESPONSE_BYTES, decode_response, encode_query
from .rpc import STORE_PROTOCOL_ID, StoreQuery, StoreResponse


class StoreQueryError(RemoteProtocolError):
    """The store node refused or failed the query; ``status_code`` is its status."""

    def __init__(self, response: StoreResponse) -> None:
        super().__init__(f"store query failed: {response.status_code} {response.status_desc}",
                         response.status_code)
        self.response = response


def new_request_id() -> str:
    return str(uuid.uuid4())


class StoreClient:
    def __init__(
        self,
        host: IHost,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
        request_ids: Callable[[], str] = new_request_id,
    ) -> None:
        self.host = host
        self.timeout = timeout
        self.max_response_bytes = max_response_bytes
        self.request_ids = request_ids

    async def query(self, peer: str | ID, query: StoreQuery) -> StoreResponse:
        """One page. An empty ``request_id`` is replaced by a fresh one."""
        if not query.request_id:
            query = dataclasses.replace(query, request_id=self.request_ids())
        _, data = await request(self.host, peer, (STORE_PROTOCOL_ID,), encode_query(query),
                                self.max_response_bytes, self.timeout)
        response = decode_response(data, self.max_response_bytes)
        if not response.ok:
            raise StoreQueryError(response)
        if response.request_id != query.request_id:
            raise RemoteProtocolError(
                f"store answered request {response.request_id!r} to request {query.request_id!r}")
        return response

    async def pages(self, peer: str | ID, query: StoreQuery) -> AsyncIterator[StoreResponse]:
        """Every page, following the cursor until the store reports no more (each page is a
        new request with a fresh request id)."""
        seen: set[bytes] = set()
        while True:
            response = await self.query(peer, dataclasses.replace(query, request_id=""))
            yield response
            cursor = response.cursor
            if cursor is None:
                return
            if cursor in seen:  # a store that loops would make this iterator endless
                raise RemoteProtocolError("store returned a cursor it had already returned")
            seen.add(cursor)
            query = dataclasses.replace(query, cursor=cursor)
