"""An auth.py as the reference server's documentation writes them: bearer tokens, every
resource tagged with its owner and filtered by it, a stricter rule for deletes, and a
per-user store namespace."""

from langgraph_sdk import Auth

auth = Auth()

TOKENS = {
    "alice-token": {"identity": "alice", "permissions": ["read", "write"], "team": "red"},
    "bob-token": {"identity": "bob", "permissions": ["read"]},
    "eve-token": {"identity": "eve", "permissions": [], "tenant": "nowhere"},
}


@auth.authenticate
async def authenticate(authorization: str | None) -> Auth.types.MinimalUserDict:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Auth.exceptions.HTTPException(status_code=401, detail="Bearer token required")
    if token not in TOKENS:
        raise Auth.exceptions.HTTPException(status_code=401, detail="Unknown token")
    return TOKENS[token]


@auth.on
async def owner_only(ctx: Auth.types.AuthContext, value: dict):
    metadata = value.setdefault("metadata", {})
    if isinstance(metadata, dict):
        metadata["owner"] = ctx.user.identity
    return {"owner": ctx.user.identity}


@auth.on.threads.delete
async def writers_delete(ctx: Auth.types.AuthContext, value: dict):
    if "write" not in ctx.permissions:
        raise Auth.exceptions.HTTPException(status_code=403, detail="Only writers delete")
    return {"owner": ctx.user.identity}


@auth.on.assistants.create
async def no_new_assistants(ctx: Auth.types.AuthContext, value: dict):
    return False


@auth.on.store()
async def own_namespace(ctx: Auth.types.AuthContext, value: dict):
    namespace = tuple(value.get("namespace") or ())
    assert namespace[:1] == (ctx.user.identity,), "Not your namespace"
