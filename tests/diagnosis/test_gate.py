"""The gate: reply to APS access failures only; stay silent on APS questions, chatter and other systems."""

from __future__ import annotations

import pytest

from bot.diagnosis import Diagnoser
from bot.diagnosis.topic import topic_tokens

APS_QUESTIONS = [
    "How do I add a custom integration in ACC for my APS app?",
    "what's the rate limit for the APS hubs endpoint?",
    "Does the APS token expire after an hour? should I cache it?",
    "We moved our BIM 360 account to the EMEA region last year, any APS gotchas?",
    "where is the redirect URI configured for my APS app?",
    "the ACC admin asked who should be account admin for the new project",
    "reminder: rotate the APS client secret before friday",
    # an incident on APS's side, told in access words
    "Post-mortem of the APS outage: the service that checks access permissions failed, so the Data Management "
    "API could not access stored data and returned errors for two hours",
    # an endpoint's URL alone says nothing failed
    "After the SDK update the hub names moved. Route https://developer.api.autodesk.com/project/v1/hubs: "
    "before data.name, after result.data.attributes.name",
]


@pytest.mark.parametrize("text", APS_QUESTIONS)
def test_questions_about_aps_get_no_reply(diagnoser: Diagnoser, text: str) -> None:
    assert not diagnoser.diagnose(text).is_aps_error


OTHER_SYSTEMS = [
    "GitHub Actions: HttpError: Resource not accessible by integration (403), client_credentials token",
    "Puppet Forge: Error login to the forge as bob [401 Unauthorized]: Client ID and client secret do not match",
    "Laravel Forge API: 429 Too Many Requests when listing servers",
    # Atlassian Forge: its apps are "Forge apps" too
    'Forge app calling the Connect App Properties API fails with 401 {"code": 401, "message": "Unauthorized; '
    'scope does not match"}',
    "forge deploy then forge tunnel: requestJira from @forge/api returns 403 Forbidden for the issue",
    # Autodesk products with their own REST APIs, outside APS
    "Autodesk PLM 360 REST API: (401) Unauthorized when logging in to the tenant from the C# sample",
    "Fusion 360 Manage API returns 403 Forbidden on /api/v3/workspaces/57/items for our Autodesk user",
]


@pytest.mark.parametrize("text", OTHER_SYSTEMS)
def test_other_systems_named_in_any_case_get_no_reply(diagnoser: Diagnoser, text: str) -> None:
    assert not diagnoser.diagnose(text).is_aps_error


def test_sample_env_var_names_make_an_aps_context(diagnoser: Diagnoser) -> None:
    text = 'login fails with 400 "Invalid redirect_uri". APS_CALLBACK_URL=http://localhost:8080/api/auth/callback'
    diagnosis = diagnoser.diagnose(text)
    assert diagnosis.is_aps_error
    assert diagnosis.best is not None and diagnosis.best.id == "redirect-uri-mismatch"


def test_a_described_problem_ranks_by_topic(diagnoser: Diagnoser) -> None:
    text = (
        "BIM 360: we can see every project in the browser, but GET hubs with our app's two-legged token "
        "returns an empty list, did the admin forget something?"
    )
    diagnosis = diagnoser.diagnose(text)
    assert diagnosis.is_aps_error
    assert diagnosis.best is not None and diagnosis.best.id == "integration-not-provisioned"
    assert any(e.startswith("talks about") for e in diagnosis.best.evidence)


@pytest.mark.parametrize(
    ("text", "word"),
    [
        ("a 2-legged token", "twolegged"),
        ("two legged", "twolegged"),
        ("grant_type=client_credentials", "twolegged"),
        ("the user's 3-legged token", "threelegged"),
        ("three-legged", "threelegged"),
        ("response_type=code&grant_type=authorization_code", "threelegged"),
    ],
)
def test_grant_type_spellings_fold_to_one_word(text: str, word: str) -> None:
    assert word in topic_tokens(text)


# APS access errors that name no APS product: the vocabulary (files, resources, SDK classes, headers) is enough.
APS_VOCABULARY_ONLY = [
    "403 Forbidden on the manifest of a .rvt that was uploaded to the bucket of our other app",
    "HubsApi.GetHubsAsync throws 401 Unauthorized since this morning",
    "passing the x-user-id header of a project member still gives 403 on the folder contents",
    "getting auth010 when listing buckets from our nightly job",
    "GET /modelderivative/v2/designdata/{urn}/metadata answers 401 Unauthorized",
    "Forge API returns 401 when I call GET buckets with my token",
    "listing the projects of b.3f2a9c1e-5b7d-4e8f-9a0b-1c2d3e4f5a6b gives 403 Forbidden",
    'The viewer shows "You don\'t have access to this file" when loading a BIM 360 model',
    "The hubs endpoint returns my personal hub only, not the company's BIM 360 account",
]


@pytest.mark.parametrize("text", APS_VOCABULARY_ONLY)
def test_aps_vocabulary_without_a_product_name_gets_a_reply(diagnoser: Diagnoser, text: str) -> None:
    assert diagnoser.diagnose(text).is_aps_error


# Other storage and other systems share the words "bucket", "objects", "work items", "scope", "token".
SHARED_WORDS_ELSEWHERE = [
    "Upload error: AccessDenied: Access Denied - the bucket policy allows PutObject for the role, objects fail",
    "PUT to the presigned R2 URL returns 403 SignatureDoesNotMatch for the bucket objects",
    "Work items and pipelines are showing unauthorized, commits and repo code are visible",
    "Signed in as an Account Admin user, a project someone else created says: Permission denied: You do not "
    "have permissions to view this page",
    "Design Automation workitem failedInstructions: Autodesk.Revit.Exceptions.InvalidOperationException",
    "iTwin platform: GET https://api.bentley.com/imodels returns 403, the user is not a member of this project",
    "Navisworks: 403 Forbidden when downloading the NWD from our intranet",
    "Procore API returns 403 Forbidden when listing projects of company 12345",
    'Client can\'t download project files: { "message": "This action is unauthorized." }',
    "MinIO returns 403 Forbidden when listing objects in bucket models, so the manifest upload fails",
    "docker pull: 403 Forbidden from the hub, no access to the manifest of the image in our projects",
]


@pytest.mark.parametrize("text", SHARED_WORDS_ELSEWHERE)
def test_words_other_systems_share_get_no_reply(diagnoser: Diagnoser, text: str) -> None:
    assert not diagnoser.diagnose(text).is_aps_error


@pytest.mark.parametrize(
    "text",
    [
        "I cloned https://github.com/autodesk-platform-services/aps-hubs-browser-nodejs and after login the hubs "
        "tree is empty, the console shows 403 Forbidden",
        "followed the github sample for the viewer, my bucket upload fails with 403 Forbidden",
    ],
)
def test_links_to_aps_sample_repositories_are_not_another_system(diagnoser: Diagnoser, text: str) -> None:
    assert diagnoser.diagnose(text).is_aps_error


@pytest.mark.parametrize(
    "text",
    [
        "git push to github.com/acme/our-fork fails: remote: Permission to acme/our-fork.git denied to bob. "
        "fatal: unable to access: The requested URL returned error: 403 (forked from the github sample)",
        # a repository named like an APS app is still git refusing a push, not APS refusing a call
        "remote: Permission to acme/forge-viewer-app.git denied to bot.\n"
        "fatal: unable to access 'https://github.com/acme/forge-viewer-app.git/': "
        "The requested URL returned error: 403",
        "$ git pull\nfatal: Could not read from remote repository.\nPlease make sure you have the correct access "
        "rights and the repository exists.\n(our forge-viewer-app, 403 Forbidden)",
    ],
)
def test_gits_own_errors_stay_silent_beside_an_aps_repository(diagnoser: Diagnoser, text: str) -> None:
    assert not diagnoser.diagnose(text).is_aps_error


def test_where_the_app_runs_is_not_another_systems_error(diagnoser: Diagnoser) -> None:
    text = "APS sample deployed on Heroku: the hubs list is empty after login, 403 in the console"
    assert diagnoser.diagnose(text).is_aps_error


def test_the_web_servers_own_403_stays_silent(diagnoser: Diagnoser) -> None:
    text = (
        "nginx returns 403 Forbidden for /viewer/index.html of our APS viewer app after deploy, "
        "directory index of /var/www is forbidden"
    )
    assert not diagnoser.diagnose(text).is_aps_error


@pytest.mark.parametrize(
    "page",
    [
        "<title>403 Forbidden</title></head><body><h1>Forbidden</h1><p>You don't have permission to access "
        "/portal/api/check/login on this server.</p><hr><address>Apache/2.4.41 (Ubuntu) Server at app.example.com "
        "Port 443</address></body></html>",
        "<html><head><title>403 Forbidden</title></head><body><center><h1>403 Forbidden</h1></center>"
        "<hr><center>nginx/1.18.0</center></body></html>",
    ],
)
def test_a_web_servers_own_error_page_stays_silent_whatever_its_wording(
    diagnoser: Diagnoser, page: str
) -> None:
    """Apache's 403 page says "You don't have permission to access …", close to a BIM 360 message: the page's
    server line says who refused."""
    assert not diagnoser.diagnose(f"RestClient::Forbidden\n{page}").is_aps_error


# Words APS shares with other products and with ordinary English: alone they do not make a paste about APS.
GENERIC_WORDS = [
    "GET https://dev.azure.com/myorg/_apis/wit/workitems/42 returns 401 Unauthorized with my PAT",
    "Power BI custom data connector: 401 when refreshing, the credentials expired",
    "Error al obtener el token: 401 Unauthorized, ocurre de forma intermitente en producción",
    "Shopify custom integration returns 403 for the orders endpoint, missing read_orders scope",
    "Backstage developer hub plugin: 403 permission denied when reading the catalog",
    "Zendesk custom integrations: 401 invalid token after rotating the API key",
    "Google Ads API three-legged OAuth returns 401 invalid_grant after the refresh token was revoked",
    "Xero OAuth2 two-legged flow gives 403 AuthorizationUnsuccessful for the tenant",
    # another OAuth server's token endpoint, however APS-like the grant words
    "curl -X POST https://auth.example-ehr.com:8443/api/oauth2/token -d grant_type=client_credentials "
    "(2-legged) answers 400 invalid_grant",
    # another OAuth server's wording: APS writes "Invalid redirect_uri" (and its sign-in page "400 - ...")
    "Music app login fails: `INVALID_CLIENT: Invalid redirect URI`",
    # HTTP's own description of 429, which any server prints
    "Our gateway answers 429: The user has sent too many requests in a given amount of time.",
    # APS-like resources, but no product named and no request refused
    "the hubs and projects list of our integration is missing, bucket objects not visible",
]


@pytest.mark.parametrize("text", GENERIC_WORDS)
def test_generic_words_alone_get_no_reply(diagnoser: Diagnoser, text: str) -> None:
    assert not diagnoser.diagnose(text).is_aps_error


def test_the_products_as_the_ui_spells_them_are_aps(diagnoser: Diagnoser) -> None:
    text = "Data Connector POST .../requests keeps returning 429 although we send one request a minute"
    assert diagnoser.diagnose(text).is_aps_error


def test_the_grant_words_with_an_autodesk_token_url_are_aps(diagnoser: Diagnoser) -> None:
    text = (
        "curl -X POST https://developer.api.autodesk.com/authentication/v2/token -d grant_type=client_credentials"
        " (2-legged) answers 401 invalid_client"
    )
    assert diagnoser.diagnose(text).is_aps_error


def test_an_aps_error_wrapped_in_the_apps_own_500_gets_a_reply(diagnoser: Diagnoser) -> None:
    where = "Upload of house.rvt to our Forge bucket: 500 Internal Server Error"
    diagnosis = diagnoser.diagnose(where + ' {"error":"Upload failed: Legacy endpoint is deprecated"}')
    assert diagnosis.is_aps_error
    assert diagnosis.causes[0].id == "legacy-forge-endpoint"
    assert not diagnoser.diagnose(where + ": upload failed").is_aps_error  # a 500 that quotes nothing of APS


def test_a_missing_resource_of_another_kind_is_not_a_missing_project(diagnoser: Diagnoser) -> None:
    # "could" and "be" are function words: "could not be found" alone does not name the project
    text = (
        "Design Automation returned 400 (Bad Request): The activity MyApp.Convert+prod could not be found "
        "(Parameter 'activityId')"
    )
    diagnosis = diagnoser.diagnose(text)
    assert "project-not-found" not in [c.id for c in diagnosis.causes[:1]]
    assert not diagnosis.is_aps_error
    project = diagnoser.diagnose(
        'GET /project/v1/hubs/b.x/projects/b.y -> 404 {"detail": "The project could not be found."}'
    )
    assert project.is_aps_error and project.causes[0].id == "project-not-found"


@pytest.mark.parametrize(
    "text",
    [
        "Getting 403 Forbidden from ACC: Token does not have the privilege for this request. Is there an outage?",
        "APS status page shows no outage, but I still get 403 Forbidden: Token does not have the privilege for "
        "this request.",
        'HTTP 403 {"developerMessage":"The client_id specified does not have access to the api product"} '
        "Not an outage - status page is green.",
        "no APS outage today, yet our 2-legged token is refused with 401 Unauthorized on every BIM 360 call",
        "This is not an outage: since this morning the hubs list is empty for our APS app and BIM 360 projects "
        "say permission denied",
    ],
)
def test_an_outage_named_beside_a_refused_request_does_not_silence_it(
    diagnoser: Diagnoser, text: str
) -> None:
    assert diagnoser.diagnose(text).is_aps_error


def test_a_long_aps_message_quoted_whole_is_aps_context(diagnoser: Diagnoser) -> None:
    # of two signatures matched equally well, the longer one is the evidence: here APS's own long wording
    text = (
        'Posting the job again for the EMEA copy fails: 406 "Not Acceptable" / "Can not register the same design '
        'on different regions,you should delete old registration for registering it to another region."'
    )
    diagnosis = diagnoser.diagnose(text)
    assert diagnosis.is_aps_error
    assert diagnosis.causes[0].id == "region-mismatch"
    assert "Can not register" in diagnosis.causes[0].evidence[0]


@pytest.mark.parametrize(
    "text",
    [  # real posts (a Revit Core Console issue, an APS VS Code extension issue): refused, but no cause fits
        "Do we need setup something for engine ? I got issue : `Autodesk.Revit.Exceptions.ArgumentException: "
        "Invalid ClientApplicationId!`, do we have any way to can work with local personal computer without server. ?",
        'Any attempt to create empty object on OSS bucket fails with 403. Detailed error message says "Field '
        'uploadKey not found".\n\nThere is a workaround. I can use Upload Object and pick any file.',
    ],
)
def test_a_refused_request_that_no_cause_explains_well_gets_no_reply(diagnoser: Diagnoser, text: str) -> None:
    diagnosis = diagnoser.diagnose(text)
    assert not diagnosis.is_aps_error and diagnosis.causes and diagnosis.causes[0].score < 50


@pytest.mark.parametrize(
    "text",
    [
        "Sometimes we've got this kind of compile error when migrating our project from Revit 2014 to Revit 2015:\n"
        "The type or namespace name 'Autodesk' could not be found (are you missing a using directive or an "
        "assembly reference?)",
        "Error: Cannot find module '@aps_sdk/authentication' - the project could not be found after npm install",
    ],
)
def test_a_build_or_module_load_error_gets_no_reply(diagnoser: Diagnoser, text: str) -> None:
    """Nothing was sent to APS, so nothing was refused, however well "could not be found" matches."""
    assert not diagnoser.diagnose(text).is_aps_error


def test_an_aps_endpoint_refusing_a_call_from_a_ci_job_is_answered(diagnoser: Diagnoser) -> None:
    """The job runs on GitHub; the endpoint that refused it is APS's."""
    text = "github workflow: https://developer.api.autodesk.com/data/v1/projects/b.1/folders/x/contents gives 403"
    diagnosis = diagnoser.diagnose(text)
    assert diagnosis.is_aps_error and diagnosis.best.id == "folder-permission-denied"


def test_aps_named_and_a_close_fit_is_answered_beside_another_system(diagnoser: Diagnoser) -> None:
    """GitHub runs the job; the quoted message is APS's own."""
    text = (
        "Our GitHub Actions job calls the Autodesk BIM 360 API and gets 403: The client_id specified does not "
        "have access to the api product"
    )
    diagnosis = diagnoser.diagnose(text)
    assert diagnosis.is_aps_error and diagnosis.best.id == "app-api-access-missing"


def test_aps_refusing_a_call_made_from_our_webhook_receiver_is_answered(diagnoser: Diagnoser) -> None:
    """APS's host named: APS refused the receiver's call, not the receiver an APS callback."""
    text = "Calling developer.api.autodesk.com from our webhook receiver returns 401 Unauthorized: the token expired"
    diagnosis = diagnoser.diagnose(text)
    assert diagnosis.is_aps_error and diagnosis.best.id == "expired-or-invalid-token"


@pytest.mark.parametrize(
    ("text", "cause"),
    [
        (
            "BIM 360 の Model Derivative で EMEA のモデルの manifest を取得するとエラーになります。"
            "US のエンドポイントを呼んでいます。",
            "region-mismatch",
        ),
        (
            "Autodesk Forge 获取 access token 时报错：client_id 或 client_secret 无效",
            "invalid-client-credentials",
        ),
    ],
)
def test_a_problem_told_in_chinese_or_japanese_gets_a_reply(
    diagnoser: Diagnoser, text: str, cause: str
) -> None:
    diagnosis = diagnoser.diagnose(text)
    assert diagnosis.is_aps_error
    assert diagnosis.best is not None and diagnosis.best.id == cause


@pytest.mark.parametrize(
    "text",
    [
        "APS の新しい SDK がリリースされました。ぜひお試しください。",
        "APS 开发者大会将于下周举行，欢迎参加。",
        "GitHub 推送时提示权限被拒绝 (403)",
        # a question about the expiry time: "expired" (过期) is a problem, "the expiry time" (过期时间) is none
        "APS 的 client secret 过期时间是多久？需要定期更新吗？",
        "APS access token 的過期時間是多久？",
    ],
)
def test_chatter_and_other_systems_in_chinese_or_japanese_get_no_reply(
    diagnoser: Diagnoser, text: str
) -> None:
    assert not diagnoser.diagnose(text).is_aps_error
