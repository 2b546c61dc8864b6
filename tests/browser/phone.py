"""What a phone-sized reader sees of a page: is it wider than the screen, is an equation cut off?

Shared by ``test_phone.py`` (which requires neither to happen on any page) and
``measure_phone.py`` (which prints the numbers, and how long MathJax took, for any build).
"""

from __future__ import annotations

from typing import Any

from chromium import Page

#: A phone the size of an iPhone 12-15 (CSS pixels), at its device pixel ratio.
PHONE = {"width": 390, "height": 844, "deviceScaleFactor": 3, "mobile": True}

#: How wide the page is: the document's scroll width against the screen's (not ``innerWidth``: a
#: mobile browser widens its layout viewport to fit a page wider than the screen), and the outermost
#: elements that stick out past the right edge (what makes the page scroll sideways).
PAGE_WIDTH = r"""((screen) => {
  const width = Math.max(document.documentElement.scrollWidth, document.body.scrollWidth);
  const shown = el => { const s = getComputedStyle(el); return s.display !== "none" && s.visibility !== "hidden"; };
  const sticksOut = el => el.getBoundingClientRect().right > screen + 1;
  const name = el => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
      (el.classList.length ? "." + Array.from(el.classList).slice(0, 3).join(".") : "");
  // Inside a box that scrolls or clips, an element sticking out does not widen the page.
  const contained = el => {
    for (let box = el.parentElement; box && box !== document.body; box = box.parentElement) {
      const style = getComputedStyle(box);
      if (style.overflowX !== "visible" || style.position === "fixed") return true;
    }
    return false;
  };
  const culprits = Array.from(document.body.querySelectorAll("*")).filter(el =>
      shown(el) && sticksOut(el) && el.parentElement && !sticksOut(el.parentElement) && !contained(el) &&
      !el.matches(".skip-link"))  // the theme's hidden "skip to content" link spans the page
    .slice(0, 8).map(el => `${name(el)} (right edge ${Math.round(el.getBoundingClientRect().right)} px): ` +
                           el.textContent.trim().replace(/\s+/g, " ").slice(0, 60));
  return {screen: screen, width: width, culprits: culprits};
})(%d)""" % PHONE["width"]

#: Equations (displayed or inline) a reader cannot see whole. From the equation's typeset content outwards, every
#: ancestor that clips (overflow other than visible) must either show all of it, or scroll far
#: enough to reach all of it (its scroll width must include it; MathJax 2's output did not count
#: toward it); what is left must fit on the screen. Returns a description of each cut-off equation.
CUT_OFF_EQUATIONS = r"""((screen) => {
  const cut = [];
  document.querySelectorAll(".math.notranslate").forEach((math, index) => {
    // MathJax 3's typeset equation (mjx-math), or MathJax 2's (span.MathJax), for before/after numbers.
    const content = math.querySelector("mjx-math, span.MathJax");
    // The side drawers (contents, "on this page") wait closed beside the screen.
    if (!content || math.closest(".bd-sidebar-primary, .bd-sidebar-secondary")) return;
    let lo = Infinity, hi = -Infinity;
    for (const el of [content, ...content.querySelectorAll("*")]) {
      const r = el.getBoundingClientRect();
      if (r.width > 0 && r.height > 0) { lo = Math.min(lo, r.left); hi = Math.max(hi, r.right); }
    }
    if (lo === Infinity) return;
    let reachable = true;
    for (let box = content.parentElement; box && reachable; box = box.parentElement) {
      const overflow = getComputedStyle(box).overflowX;
      if (overflow === "visible") continue;
      const left = box.getBoundingClientRect().left + box.clientLeft;
      if (overflow === "auto" || overflow === "scroll") {
        const start = left - box.scrollLeft;
        reachable = lo >= start - 1 && hi <= start + box.scrollWidth + 1;
        lo = Math.max(lo, left); hi = Math.min(hi, left + box.clientWidth);
      } else {
        reachable = lo >= left - 1 && hi <= left + box.clientWidth + 1;
      }
    }
    if (!reachable || hi > screen + 1 || lo < -1) {
      const section = math.closest("section");
      cut.push(`${math.tagName === "DIV" ? "display" : "inline"} equation ${index + 1}` +
               `${math.id ? " #" + math.id : ""} in section #${section ? section.id : "?"}, ` +
               `${Math.round(hi - lo)} px wide`);
    }
  });
  return cut;
})(%d)""" % PHONE["width"]


#: The side drawer that a toggle button of the theme opens, once its opening animation is
#: over: its left and right edges, or null while it is not (yet) open.
OPEN_DRAWER = """(() => {
  const dialog = document.querySelector("dialog[open]");
  if (!dialog || dialog.getAnimations({subtree: true}).some(a => a.playState === "running")) return null;
  const r = dialog.getBoundingClientRect();
  return [dialog.id, r.left, r.right];
})()"""


def drawers_off_screen(page: Page) -> list[str]:
    """Open each side drawer (contents; "on this page") the page has, as a reader taps its button,
    and report any that does not lie wholly on the screen."""
    problems = []
    for toggle in ("button.primary-toggle", "button.secondary-toggle"):
        if not page.evaluate(f"Boolean(document.querySelector('{toggle}'))"):
            continue
        page.click(toggle)
        name, left, right = page.wait_for(OPEN_DRAWER, timeout=10)
        if left < -1 or right > PHONE["width"] + 1:
            problems.append(f"the drawer {name} spans {left:.0f} to {right:.0f} px on a {PHONE['width']} px screen")
        page.evaluate("document.querySelector('dialog[open]').close()")
    return problems


def emulate_phone(page: Page) -> None:
    """Make ``page`` a phone: 390 x 844 CSS pixels, 3 device pixels each, touch and mobile layout."""
    page.send("Emulation.setDeviceMetricsOverride", PHONE)
    page.send("Emulation.setTouchEmulationEnabled", {"enabled": True, "maxTouchPoints": 5})


def phone_report(page: Page) -> dict[str, Any]:
    """The page's width, its culprits, and its cut-off display equations, as a phone shows them."""
    report = page.evaluate(PAGE_WIDTH)
    report["cut_off"] = page.evaluate(CUT_OFF_EQUATIONS)
    report["equations"] = page.evaluate("document.querySelectorAll('div.math.notranslate').length")
    report["inline"] = page.evaluate("document.querySelectorAll('span.math.notranslate').length")
    return report
