"""The Content-Security-Policy is sent on every page and the pages satisfy it: Chromium reports
no violation (securitypolicyviolation events, console errors) on any of them."""

import pytest
from playwright.sync_api import expect

from accounts import services as account_services
from tests.browser.conftest import Pages
from tests.calculations.factories import make_success, random_digits

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

COLLECT_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  const where = `${event.sourceFile}:${event.lineNumber}`;
  window.cspViolations.push(`${event.violatedDirective} ${event.blockedURI} ${where}`);
});
"""


def open_checked(pages, path: str, ready: str):
    page = pages.open("about:blank")
    page.context.add_init_script(COLLECT_VIOLATIONS)
    response = page.goto(path)
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy, policy
    assert "frame-ancestors 'none'" in policy
    assert response.headers["x-frame-options"] == "DENY"
    expect(page.locator(ready).first).to_be_visible()
    page.wait_for_load_state("networkidle")
    return page


def violations(page) -> list[str]:
    return page.evaluate("window.cspViolations")


def test_pages_satisfy_the_content_security_policy(pages, django_user_model):
    user = django_user_model.objects.create_user("csp", is_staff=True, is_superuser=True)
    account_services.api_token_create(user=user, name="t")
    calculation = make_success(random_digits(5000), owner=user)
    checked = {
        "/account/login/": "#id_username",
        "/account/signup/": "#id_password1",
        "/": "#id_n",
        "/api/docs": ".swagger-ui .info",
        "/admin/login/": "#id_username",
    }
    for path, ready in checked.items():
        page = open_checked(pages, path, ready)
        assert violations(page) == [], path
    pages.sign_in(user)
    signed_in = {
        "/": "#calculation-table",
        calculation.get_absolute_url(): "#output",
        "/account/tokens/": "#id_name",
        "/account/password/": "#id_old_password",
        "/admin/calculations/calculation/": "#result_list",
        "/api/docs": ".swagger-ui .info",
    }
    for path, ready in signed_in.items():
        page = open_checked(pages, path, ready)
        assert violations(page) == [], path
    # The tokens page after a creation, and the API docs running a request with the session.
    page = open_checked(pages, "/account/tokens/", "#id_name")
    page.fill("#id_name", "from the browser")
    with page.expect_navigation():
        page.click("text=Create token")
    expect(page.locator("#token-secret")).to_contain_text("cq_")
    assert violations(page) == []
    page = open_checked(pages, "/api/docs", ".swagger-ui .info")
    operation = page.locator(".opblock", has=page.locator('[data-path="/api/equations"]'))
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    operation.get_by_role("button", name="Execute").click()
    expect(operation.locator(".live-responses-table td.response-col_status").last).to_have_text(
        "200"
    )
    assert violations(page) == []
    # The listener does see a violation: an inline script, which the policy blocks. Chromium
    # logs the blocked script as an error: allowed from here on only.
    pages.allow("Content Security Policy")
    inject_inline_script(page)
    page.wait_for_function("window.cspViolations.length > 0")
    assert page.evaluate("window.ran") is None


def inject_inline_script(page) -> None:
    page.evaluate(
        "() => { const s = document.createElement('script'); s.textContent = 'window.ran = 1';"
        " document.body.append(s); }"
    )


def test_an_allowance_does_not_cover_a_console_error_logged_before_it(browser, live_server):
    # The harness itself (conftest.Pages), on a Pages of its own: the `pages` fixture would
    # fail this test at teardown for the error it expects.
    pages = Pages(browser, live_server.url)
    try:
        earlier = open_checked(pages, "/account/login/", "#id_username")
        with earlier.expect_console_message(lambda message: message.type == "error"):
            inject_inline_script(earlier)
        pages.allow("Content Security Policy")
        later = open_checked(pages, "/account/signup/", "#id_password1")
        with later.expect_console_message(lambda message: message.type == "error"):
            inject_inline_script(later)
    finally:
        pages.close()
    assert len(pages.errors) == 2
    (unexpected,) = pages.unexpected_errors()
    assert unexpected.startswith(f"{live_server.url}/account/login/: ")
    assert "Content Security Policy" in unexpected
