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
