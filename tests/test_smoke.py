from tests.support import bearer, make_token


async def test_readiness_answers_200_with_both_dependencies_up(server):
    async with server.client() as client:
        response = await client.get("/readiness")
    assert response.status_code == 200
    assert response.json()["data"]["checks"] == {"postgres": "ok", "redis": "ok"}


async def test_admin_settings_need_the_admin_role(server):
    async with server.client() as client:
        user = await client.get("/admin/settings", headers=bearer(make_token()))
        admin = await client.get("/admin/settings", headers=bearer(make_token(admin=True)))
    assert user.status_code == 403
    assert user.json()["error"]["code"] == "FORBIDDEN"
    assert admin.status_code == 200


async def test_the_openapi_document_is_served_at_schema_without_a_cdn(server):
    async with server.client() as client:
        response = await client.get("/schema")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    assert "/session" in document["paths"]
    assert "/replay/state" in document["paths"]
