"""Contrast, measured in Chromium: every visible piece of text on the list (rows in every
state), detail, form-with-an-error and dashboard pages against the background it is drawn on,
by the WCAG 2.x formula; and a focus ring that shows, and stands out, on each control of the
form reached by Tab. No axe-core: the measuring is the page JavaScript below."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from calculations.models import Calculation
from tests.browser.conftest import DESKTOP, PHONE
from tests.browser.test_ui import submit
from tests.calculations.factories import (
    make_calculation,
    make_finished,
    make_success,
    random_digits,
)
from tests.conftest import clear_cache

pytestmark = [pytest.mark.integration, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

S = Calculation.Status
# WCAG 2.x 1.4.3 (text) and 1.4.11 (the focus indicator, a non-text state).
TEXT_MIN_RATIO = 4.5
LARGE_TEXT_MIN_RATIO = 3.0
FOCUS_RING_MIN_RATIO = 3.0
# Enough texts that a walk which found almost nothing (a selector gone wrong) fails.
MIN_TEXTS_PER_PAGE = 15
MAX_TABS = 20
REPORTED_PAIRS = 4

# Defines window.contrast: texts() measures every visible text, focusRing() the focused element.
# Backgrounds are composited from the element up through its ancestors to the first opaque
# one (the html element's colour, or the canvas's white); text drawn over something that is
# not an ancestor (an absolutely positioned overlay) is not modelled: the page has none.
CONTRAST_JS = r"""
(() => {
  // Replaced or unrendered content: their text nodes are not what the page shows.
  const NOT_RENDERED = "script, style, template, noscript, title, option, optgroup, select, "
    + "progress, meter, textarea, svg";
  const TEXT_CONTROLS = "input:not([type]), input[type=text], input[type=email], "
    + "input[type=password], input[type=search], input[type=number], input[type=url], "
    + "input[type=tel], input[type=submit], input[type=button], select, textarea";
  const LARGE_PX = 24;
  const LARGE_BOLD_PX = 18.66;
  const BOLD = 700;

  const parse = (css) => {
    const m = css.match(/^rgba?\(([\d.]+),\s*([\d.]+),\s*([\d.]+)(?:,\s*([\d.]+))?\)$/);
    if (!m) throw new Error(`a colour this check cannot read: ${css}`);
    return [+m[1], +m[2], +m[3], m[4] === undefined ? 1 : +m[4]];
  };
  const over = (top, bottom) => [0, 1, 2].map((i) => top[i] * top[3] + bottom[i] * (1 - top[3]))
    .concat(1);
  const hex = (c) => "#" + c.slice(0, 3).map((v) => Math.round(v).toString(16).padStart(2, "0"))
    .join("");
  const luminance = (c) => {
    const [r, g, b] = c.slice(0, 3).map((v) => {
      const s = v / 255;
      return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const ratio = (a, b) => {
    const [light, dark] = [luminance(a), luminance(b)].sort((x, y) => y - x);
    return (light + 0.05) / (dark + 0.05);
  };
  const unmeasurable = [];
  const describe = (el) => `${el.tagName.toLowerCase()}${el.id ? "#" + el.id : ""}`
    + `${el.classList.length ? "." + [...el.classList].join(".") : ""}`;

  // The opaque colour behind `el`, with `extra` (a pseudo-element's own layer) on top.
  const background = (el, extra = null) => {
    const layers = extra && extra[3] > 0 ? [extra] : [];
    for (let node = el; node && !(layers.length && layers.at(-1)[3] === 1);
         node = node.parentElement) {
      const style = getComputedStyle(node);
      if (style.backgroundImage !== "none") unmeasurable.push(describe(node));
      const colour = parse(style.backgroundColor);
      if (colour[3] > 0) layers.push(colour);
    }
    return layers.reverse().reduce((below, layer) => over(layer, below), [255, 255, 255, 1]);
  };
  const opacity = (el) => {
    let product = 1;
    for (let node = el; node; node = node.parentElement) {
      product *= +getComputedStyle(node).opacity;
    }
    return product;
  };
  // Text only a screen reader gets: clipped to a pixel or less (.visually-hidden, a phone's
  // thead), by the element or an ancestor.
  const screenReaderOnly = (el) => {
    for (let node = el; node; node = node.parentElement) {
      const box = node.getBoundingClientRect();
      const style = getComputedStyle(node);
      if (style.overflow !== "visible" && (box.width <= 1 || box.height <= 1)) return true;
    }
    return false;
  };
  const shown = (el) => el.checkVisibility({ checkOpacity: true, visibilityProperty: true })
    && !el.closest("[aria-hidden=true]") && !screenReaderOnly(el);
  const drawn = (node) => {
    const range = document.createRange();
    range.selectNodeContents(node);
    return [...range.getClientRects()].some((box) => box.width > 0 && box.height > 0);
  };

  const measure = (el, text, style, where, extraBackground = null) => {
    const size = parseFloat(style.fontSize);
    const weight = parseInt(style.fontWeight, 10);
    const behind = background(el, extraBackground);
    const ink = parse(style.color);
    ink[3] *= opacity(el);
    const colour = over(ink, behind);
    return {
      element: describe(el) + where,
      text: text.replace(/\s+/g, " ").trim().slice(0, 50),
      color: hex(colour),
      background: hex(behind),
      ratio: ratio(colour, behind),
      large: size >= LARGE_PX || (size >= LARGE_BOLD_PX && weight >= BOLD),
      font: `${size}px/${weight}`,
    };
  };

  const texts = () => {
    unmeasurable.length = 0;
    const found = [];
    for (const el of document.body.querySelectorAll("*")) {
      if (el.closest(NOT_RENDERED) || !shown(el)) continue;
      const own = [...el.childNodes].filter((n) => n.nodeType === Node.TEXT_NODE
        && n.textContent.trim() && drawn(n));
      if (own.length) {
        found.push(measure(el, own.map((n) => n.textContent).join(" "), getComputedStyle(el), ""));
      }
      for (const pseudo of ["::before", "::after"]) {
        const style = getComputedStyle(el, pseudo);
        const content = style.content.match(/^"(.*)"$/s);
        if (style.display === "none" || !content || !content[1].trim()) continue;
        found.push(measure(el, content[1], style, pseudo, parse(style.backgroundColor)));
      }
    }
    for (const el of document.body.querySelectorAll(TEXT_CONTROLS)) {
      if (!shown(el)) continue;
      if (el instanceof HTMLSelectElement) {
        const option = el.options[el.selectedIndex];
        if (option) found.push(measure(el, option.text, getComputedStyle(el), ""));
      } else if (el.value) {
        found.push(measure(el, el.value, getComputedStyle(el), ""));
      } else if (el.placeholder) {
        found.push(measure(el, el.placeholder, getComputedStyle(el, "::placeholder"),
          "::placeholder"));
      }
    }
    return { texts: found, unmeasurable: [...new Set(unmeasurable)] };
  };

  // The focused element's indicator: an outline (its colour against what surrounds the
  // element, which is where an outline is drawn) or a box-shadow.
  const focusRing = () => {
    const el = document.activeElement;
    const style = getComputedStyle(el);
    const outline = style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0;
    const around = background(el.parentElement);
    return {
      element: describe(el),
      outline: `${style.outlineStyle} ${style.outlineWidth} ${style.outlineColor}`,
      boxShadow: style.boxShadow,
      visible: outline || style.boxShadow !== "none",
      ratio: outline ? ratio(over(parse(style.outlineColor), around), around) : null,
      background: hex(around),
    };
  };

  window.contrast = { texts, focusRing };
})();
"""


def measure_texts(page, where: str) -> list[dict]:
    """Measure every visible text of the page; fail, listing each, on any below its minimum."""
    page.evaluate(CONTRAST_JS)
    measured = page.evaluate("contrast.texts()")
    assert measured["unmeasurable"] == [], f"{where}: text over a background image"
    texts = measured["texts"]
    assert len(texts) >= MIN_TEXTS_PER_PAGE, f"{where}: only {len(texts)} texts found"
    failing = [text for text in texts if text["ratio"] < minimum(text)]
    assert failing == [], f"{where}: text below its contrast minimum:\n" + "\n".join(
        describe(text) for text in failing
    )
    return texts


def minimum(text: dict) -> float:
    return LARGE_TEXT_MIN_RATIO if text["large"] else TEXT_MIN_RATIO


def describe(text: dict) -> str:
    size = "large" if text["large"] else "normal"
    return (
        f"  {text['ratio']:.2f}:1 (needs {minimum(text)}, {size} {text['font']}) "
        f"<{text['element']}> {text['text']!r}: {text['color']} on {text['background']}"
    )


def report(texts: list[dict], where: str) -> None:
    """Print the count and the lowest pairs of colours, against their minimum (with -rP)."""
    pairs = {}
    for text in sorted(texts, key=lambda text: text["ratio"] / minimum(text)):
        pairs.setdefault((text["color"], text["background"]), text)
    lowest = "\n".join(describe(text) for text in list(pairs.values())[:REPORTED_PAIRS])
    print(f"{where}: {len(texts)} texts, {len(pairs)} pairs of colours, the lowest:\n{lowest}")


@pytest.fixture
def staff_owner(pages, django_user_model):
    """A staff user, signed in, who owns the rows: the list, the details and the dashboard."""
    user = django_user_model.objects.create_user("owner", is_staff=True)
    pages.sign_in(user)
    return user


@pytest.fixture
def rows_in_every_state(staff_owner, settings) -> dict[str, Calculation]:
    """Rows as the worker leaves them, made directly: no message is queued for them, so the
    session's worker leaves them alone. The RUNNING ones are claimed by a worker that does not
    exist, its lease renewed a second ago (only beat's sweeper, not running here, would take
    them back once it lapses)."""
    now = timezone.now()
    running = {
        "status": S.RUNNING,
        "created_at": now - timedelta(seconds=5),
        "enqueued_at": now - timedelta(seconds=5),
        "started_at": now - timedelta(seconds=4),
        "worker": "absent@host:1",
        "attempts": 1,
        "lease_expires_at": now
        - timedelta(seconds=1)
        + timedelta(seconds=settings.CALCQUEUE_LEASE_SECONDS),
    }
    return {
        "cancelled": make_finished(S.CANCELLED, owner=staff_owner, equation="nth_prime", n=7),
        "error": make_finished(
            S.ERROR,
            owner=staff_owner,
            equation="factorial",
            n=9_000_000,
            error="SoftTimeLimitExceeded: factorial(9000000) ran past its 600 s limit",
        ),
        "success": make_success(
            random_digits(5_000), owner=staff_owner, equation="factorial", n=1_000
        ),
        "cancelling": make_calculation(
            owner=staff_owner,
            equation="nth_prime",
            n=250_000_000,
            progress=0.1,
            cancel_requested_at=now,
            **running,
        ),
        "running": make_calculation(
            owner=staff_owner, equation="nth_prime", n=100_000_000, progress=0.42, **running
        ),
        "pending": make_calculation(owner=staff_owner, equation="fibonacci", n=39),
    }


def test_text_contrast_on_the_list_and_detail_pages_in_every_state(
    pages, celery_worker, rows_in_every_state, screenshot
):
    page = pages.open("/")
    for status in S.values:
        expect(page.locator(f".badge-{status.lower()}").first).to_be_visible()
    expect(page.locator(".progress-text").first).to_contain_text("left")
    expect(page.get_by_text("cancelling…")).to_be_visible()
    texts = measure_texts(page, "list (desktop)")
    # Every state's badge was among the texts measured.
    badges = {text["element"] for text in texts if ".badge" in text["element"]}
    assert {f"span.badge.badge-{status.lower()}" for status in S.values} <= badges
    screenshot(page, "list-every-state-desktop")
    page.set_viewport_size(PHONE)
    # The phone's row cards label their cells with ::before text.
    texts += measure_texts(page, "list (phone)")
    assert any(text["element"].endswith("::before") for text in texts)
    screenshot(page, "list-every-state-phone")

    page.set_viewport_size(DESKTOP)
    for name, calculation in rows_in_every_state.items():
        page.goto(calculation.get_absolute_url())
        expect(page.locator("#calculation-status")).to_have_attribute(
            "data-status", calculation.status
        )
        texts += measure_texts(page, f"detail of the {name} calculation")
        if name == "error":
            screenshot(page, "detail-error-desktop")
            page.set_viewport_size(PHONE)
            screenshot(page, "detail-error-phone")
            page.set_viewport_size(DESKTOP)

    # A message, as Retry leaves it on the new calculation's page.
    page.goto(rows_in_every_state["cancelled"].get_absolute_url())
    with page.expect_navigation():
        page.get_by_role("button", name="Retry nth_prime(7)").click()
    expect(page.locator(".message")).to_have_text("Retrying nth_prime(7) as a new calculation.")
    texts += measure_texts(page, "detail with a message")
    report(texts, "list and detail pages")


def test_text_contrast_and_focus_ring_on_the_form_with_an_inline_error(
    pages, staff_owner, screenshot
):
    page = pages.open("/")
    # Invalid input is answered with 400 and the form, which Chromium logs as an error.
    pages.allow("the server responded with a status of 400 (Bad Request)")
    submit(page, "nth_prime", "0, 5")
    expect(page.locator("#n-error")).to_be_visible()
    texts = measure_texts(page, "form with an inline error")
    assert any(text["element"] == "p#n-error.form-error" for text in texts)
    report(texts, "form with an inline error")

    # From the field with the error back to the page's first link (the header's), then
    # forward through the header and every control of the form to its button.
    for _ in range(MAX_TABS):
        page.keyboard.press("Shift+Tab")
        if page.evaluate("document.activeElement.matches('.site-header .brand')"):
            break
    else:
        pytest.fail(f"the header's first link was not reached in {MAX_TABS} tabs back")
    rings = []
    for _ in range(MAX_TABS):
        rings.append(page.evaluate("contrast.focusRing()"))
        if page.evaluate("document.activeElement.matches('.calculation-form button')"):
            break
        page.keyboard.press("Tab")
    else:
        pytest.fail(f"the form's button was not reached in {MAX_TABS} tabs: {rings}")
    focused = {ring["element"] for ring in rings}
    assert {"select#id_equation", "input#id_n", "a.brand"} <= focused, focused
    faint = [
        ring
        for ring in rings
        if not ring["visible"]
        or (ring["ratio"] is not None and ring["ratio"] < FOCUS_RING_MIN_RATIO)
    ]
    assert faint == [], "focus indicators missing or too faint:\n" + "\n".join(
        f"  <{ring['element']}> outline {ring['outline']}, box-shadow {ring['boxShadow']}, "
        f"{ring['ratio'] and round(ring['ratio'], 2)}:1 against {ring['background']}"
        for ring in faint
    )
    print("focus rings:", ", ".join(f"{ring['element']} {ring['ratio']:.2f}:1" for ring in rings))


def test_text_contrast_on_the_dashboard(
    pages, celery_worker, rows_in_every_state, screenshot, settings
):
    clear_cache()
    # Backpressure on (its banner is the dashboard's most coloured text): the rows above hold
    # three unfinished calculations.
    settings.CALCQUEUE_BACKPRESSURE_MAX_UNFINISHED = 3
    page = pages.open("/dashboard/")
    expect(page.locator(f'[data-worker="{celery_worker.hostname}"]')).to_be_visible()
    expect(page.locator("#backpressure")).to_have_attribute("data-active", "true")
    expect(page.locator("#finished-error")).to_have_text("1")
    expect(page.locator(".silent-workers")).to_contain_text("absent@host")
    texts = measure_texts(page, "dashboard")
    screenshot(page, "dashboard-states-desktop")
    page.set_viewport_size(PHONE)
    texts += measure_texts(page, "dashboard (phone)")
    screenshot(page, "dashboard-states-phone")
    report(texts, "dashboard")
