"""Teach it your handwriting in Chromium: draw a digit, label it, see it in the gallery; label a
few more, teach the network, read before -> after. Screenshots: artifacts/my-drawings-*.png."""
import re

import pytest

from tests.browser.conftest import wait_for_images
from tests.browser.test_draw_browser import open_draw_page, stroke, wait_for_prediction
from tests.helpers.browser import PREDICTION_JS, STROKES, wait_until_drawable

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]


def fresh_canvas(page):
    """The canvas that takes strokes after the page cleared it (a labelled drawing)."""
    canvas = page.locator("canvas.upper-canvas:not([data-old])")
    canvas.wait_for()
    wait_until_drawable(page, canvas)
    return canvas


def label(page, canvas, digit, actually=None):
    """Draw ``digit``'s strokes; press Right, or It's actually a ``actually``; wait for the
    new, empty canvas."""
    stroke(page, canvas.bounding_box(), STROKES[digit])
    wait_for_prediction(page, digit)
    canvas.evaluate("c => { c.dataset.old = '1'; }")
    if actually is None:
        page.get_by_role("button", name=re.compile(rf"Right: {digit}")).click()
    else:
        page.get_by_role("radiogroup", name="It's actually a…").get_by_role(
            "radio", name=actually, exact=True).click()                   # a pill
    wait_for_prediction(page, None)
    return fresh_canvas(page)


def gallery_captions(page):
    return page.locator('[data-testid="stImageCaption"]').all_inner_texts()


def test_draw_label_and_see_it_in_the_gallery_then_teach(app_url, page, screenshot, tmp_path):
    canvas = open_draw_page(page, app_url, 1800)
    page.get_by_text("Does the network read your handwriting?").wait_for()
    stroke(page, canvas.bounding_box(), STROKES["7"])
    wait_for_prediction(page, "7")
    page.get_by_text("Is it right?").wait_for()
    page.get_by_role("radiogroup", name="It's actually a…").get_by_role("radio", name="9").wait_for()
    page.get_by_role("button", name=re.compile("Right: 7")).wait_for()
    wait_for_images(page)
    page.wait_for_timeout(500)                 # the probability chart draws itself (no event)
    screenshot("my-drawings-1-is-it-right")
    canvas.evaluate("c => { c.dataset.old = '1'; }")
    page.get_by_role("button", name=re.compile("Right: 7")).click()
    wait_for_prediction(page, None)                      # the canvas is cleared for the next one
    page.get_by_test_id("stMetricLabel").filter(has_text="Your handwriting").wait_for()
    page.wait_for_function("() => document.body.innerText.includes('1 of your 1 drawings right')")
    assert "7" in gallery_captions(page), "the drawing is in the gallery, read right"
    canvas = fresh_canvas(page)

    # a few more, one of them corrected: the gallery marks it red with what it saw
    canvas = label(page, canvas, "1")
    canvas = label(page, canvas, "0")
    canvas = label(page, canvas, "1", actually="4")
    page.wait_for_function("() => document.body.innerText.includes('of your 4 drawings right')")
    assert "4, seen as 1" in gallery_captions(page)
    canvas = label(page, canvas, "7")
    assert page.evaluate(PREDICTION_JS) is None
    wait_for_images(page)
    page.get_by_role("heading", name="My drawings").scroll_into_view_if_needed()
    screenshot("my-drawings-2-gallery")

    # a set made elsewhere (the benchmark's personal style, 6 of each digit) comes back by upload
    upload = tmp_path / "style.zip"
    upload.write_bytes(style_zip())
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').last.set_input_files(str(upload))
    page.get_by_text("Added 60 drawings from").wait_for()
    page.wait_for_function("() => document.body.innerText.includes('of your 65 drawings right')")

    teach = page.get_by_role("button", name="Teach it")
    assert teach.is_enabled()
    teach.click()
    page.get_by_text(re.compile(r"[\d,]+ steps in [\d.]+ s")).wait_for(timeout=240_000)
    page.get_by_test_id("stMetricLabel").filter(has_text="drawings it never saw").wait_for()
    page.get_by_test_id("stMetricLabel").filter(has_text="test images").wait_for()
    assert page.get_by_role("button", name="Undo: back to the model before").is_visible()
    assert page.get_by_text("taught your handwriting").first.is_visible()
    # the headline: on the drawings it was not taught (those kept aside), and how many
    headline = page.get_by_text(re.compile(r"\d+ of the \d+ drawings it was not taught"))
    headline.wait_for()
    unseen = int(re.search(r"of the (\d+) drawings it was not taught", headline.inner_text())[1])
    assert 10 <= unseen < 65, headline.inner_text()     # at least one of each digit kept aside
    # the shipped fully connected network grew a second reader for the hand (core.reader)
    assert page.get_by_text(re.compile(r"second reader.*512 and 256 units")).is_visible()
    wait_for_images(page)
    screenshot("my-drawings-3-taught")

    # Undo resets the panel: the before -> after and "now the current model" go
    page.get_by_role("button", name="Undo: back to the model before").click()
    page.get_by_text("the taught model is no longer in use").wait_for()
    screenshot("my-drawings-3b-undone")
    page.get_by_text("of your 65 drawings right").wait_for()
    assert not page.get_by_text("now the current model").is_visible()
    assert page.get_by_test_id("stMetricLabel").filter(has_text="drawings it never saw").count() == 0
    assert page.get_by_role("button", name="Use the taught model again").is_visible()
    page.get_by_role("button", name="Use the taught model again").click()
    page.get_by_text("now the current model").wait_for()

    # Inspect: the drawings as a test set
    page.get_by_role("link", name="Inspect").click()
    page.get_by_role("radiogroup", name="Test on").get_by_role(
        "radio", name="your 65 drawings").click()
    page.get_by_text("Test set: your 65 MNIST drawings").wait_for()
    wait_for_images(page)
    screenshot("my-drawings-4-inspect")
    # the grown network's first layer: the second half are the first half seen through the hand
    page.get_by_role("tab", name="What units look for").click()
    page.get_by_text(re.compile("grew a second reader")).first.wait_for()
    thumb = page.get_by_test_id("stSlider").filter(has_text="Units").get_by_role("slider")
    thumb.focus()
    for _ in range(8):                                   # to the second reader's first units
        if "(↻ 0)" in " ".join(gallery_captions(page)):
            break
        thumb.press("ArrowRight")
        page.wait_for_timeout(700)
    assert "unit 256 (↻ 0)" in gallery_captions(page)
    wait_for_images(page)
    screenshot("my-drawings-5-units")


def style_zip():
    """A zip of 60 drawings in tests/helpers/handwriting.py's style, as 'Download' makes them."""
    import numpy as np

    from core.handwriting import Drawings, sketch_of, to_zip
    from tests.helpers.handwriting import make_style_set
    X, y, canvases = make_style_set(6, seed=3)
    return to_zip(Drawings((X * 255 + 0.5).astype(np.uint8), y.astype(np.uint8),
                           np.stack([sketch_of(c) for c in canvases])))
