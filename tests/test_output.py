"""Bounded output capture keeps the head and the tail and says what it cut."""

from patchlore.sandbox.output import OutputCap


def test_small_output_is_kept_whole():
    cap = OutputCap(100)
    cap.add(b"hello ")
    cap.add(b"world")
    assert cap.text("stdout") == "hello world" and cap.cut == 0


def test_large_output_keeps_head_and_tail():
    cap = OutputCap(100)
    for i in range(1000):
        cap.add(f"{i:05d}\n".encode())
    text = cap.text("stdout")
    assert text.startswith("00000\n") and text.endswith("00999\n")
    assert cap.total == 6000 and cap.cut == 6000 - 100
    assert "[... patchlore cut 5900 bytes of stdout ...]" in text


def test_invalid_utf8_is_replaced_not_fatal():
    cap = OutputCap(100)
    cap.add(b"\xff\xfeok")
    assert cap.text("stderr").endswith("ok")
