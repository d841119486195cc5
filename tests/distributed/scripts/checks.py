"""What the rank programs here share."""


def expect_error(kind, text, fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` raises ``kind`` with ``text`` in its message."""
    try:
        fn(*args, **kwargs)
    except kind as error:
        assert text in str(error), f"{kind.__name__} without {text!r}: {error}"
    else:
        raise AssertionError(f"{fn.__name__} did not raise {kind.__name__}")
