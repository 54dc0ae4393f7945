"""The wire format between grader and sandbox: plain data in, fresh plain data out."""

from __future__ import annotations

import json
import math
import os
import select
import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest

from grader.sandbox import wire


def roundtrip(value: object) -> object:
    """Encode, frame, parse and decode a value, as it crosses the boundary."""
    body = wire.dumps(wire.encode(value))[4:]
    return wire.decode(json.loads(body))


@pytest.mark.parametrize("dtype", sorted(wire.ALLOWED_DTYPES))
def test_does_an_array_of_every_allowed_dtype_come_back_equal_fresh_and_writable(
    dtype: str,
) -> None:
    original = (np.arange(12) % 7).astype(dtype).reshape(3, 4)
    back = roundtrip(original)
    assert type(back) is np.ndarray
    assert back.dtype == np.dtype(dtype)
    assert back.shape == (3, 4)
    np.testing.assert_array_equal(back, original)
    assert back.flags.writeable
    assert back.flags.owndata
    assert not np.shares_memory(back, original)


def test_does_a_non_contiguous_view_come_back_as_its_values() -> None:
    base = np.arange(20.0).reshape(4, 5)
    view = base[::2, 1::2].T
    back = roundtrip(view)
    np.testing.assert_array_equal(back, view)
    assert back.flags.c_contiguous


def test_does_an_empty_array_keep_its_shape() -> None:
    back = roundtrip(np.zeros((0, 3)))
    assert back.shape == (0, 3)


def test_does_a_zero_dimensional_array_keep_its_shape() -> None:
    back = roundtrip(np.array(3.5))
    assert back.shape == ()


def test_does_a_big_endian_array_keep_its_values() -> None:
    original = np.array([1.0, 2.0, 3.0], dtype=">f8")
    np.testing.assert_array_equal(roundtrip(original), [1.0, 2.0, 3.0])


def test_do_tuples_sets_lists_and_dicts_keep_their_types() -> None:
    value = {"t": (1, 2.5, "a"), "s": {1, 2, 3}, "fs": frozenset({"x"}), "l": [True, None],
             "nested": {"arr": (np.ones(2), [np.int64(4)])}}
    back = roundtrip(value)
    assert back["t"] == (1, 2.5, "a")
    assert back["s"] == {1, 2, 3}
    assert back["fs"] == {"x"}
    assert back["l"] == [True, None]
    arr, rest = back["nested"]["arr"]
    np.testing.assert_array_equal(arr, [1.0, 1.0])
    assert rest == [4] and type(rest[0]) is np.int64


def test_does_a_numpy_scalar_cross_as_a_numpy_scalar_of_its_dtype() -> None:
    """A reference swapped in for a student's function returns np.float64 for floats; the
    student's code that calls ``z.ndim`` on it must get a numpy scalar, not a Python float."""
    for value in (np.float64(-0.25), np.float32(1.5), np.int32(-7), np.bool_(True),
                  np.complex128(1 - 2j), np.float64(math.inf)):
        back = roundtrip(value)
        assert type(back) is type(value)
        assert back.ndim == 0 and back.dtype == value.dtype
        assert back == value
    assert math.isnan(roundtrip(np.float64(math.nan)))


def test_do_non_finite_floats_cross_a_json_channel_that_refuses_nan() -> None:
    nan, inf, ninf = roundtrip([math.nan, math.inf, -math.inf])
    assert math.isnan(nan)
    assert inf == math.inf
    assert ninf == -math.inf


def test_do_python_numbers_stay_python_numbers() -> None:
    back = roundtrip([0.5, -3, True, math.nan])
    assert back[:3] == [0.5, -3, True]
    assert [type(v) for v in back] == [float, int, bool, float]
    assert math.isnan(back[3])


@pytest.mark.parametrize("bit_generator", ["PCG64", "MT19937", "Philox", "SFC64"])
def test_does_a_generator_come_back_in_the_same_state(bit_generator: str) -> None:
    rng = np.random.Generator(getattr(np.random, bit_generator)(1234))
    rng.normal(size=5)
    back = roundtrip(rng)
    assert isinstance(back, np.random.Generator)
    assert back is not rng
    np.testing.assert_array_equal(back.random(8), rng.random(8))


def test_do_rng_states_report_generators_by_position_and_keyword() -> None:
    rng = np.random.default_rng(7)
    states = wire.rng_states([1.0, rng, "x"], {"rng": np.random.default_rng(8), "n": 3})
    assert states["args"][0] is None and states["args"][2] is None
    np.testing.assert_array_equal(wire.make_rng(wire.decode(states["args"][1])).random(3),
                                  np.random.default_rng(7).random(3))
    assert list(states["kwargs"]) == ["rng"]
    np.testing.assert_array_equal(wire.make_rng(wire.decode(states["kwargs"]["rng"])).random(3),
                                  np.random.default_rng(8).random(3))


@pytest.mark.parametrize("state", [None, {"bit_generator": "Evil"}, {"bit_generator": "PCG64"},
                                   {"bit_generator": "PCG64", "state": "junk"}])
def test_is_a_malformed_generator_state_refused(state: object) -> None:
    with pytest.raises(wire.WireError):
        wire.make_rng(state)


def test_is_an_object_array_refused_by_the_receiver() -> None:
    with pytest.raises(wire.WireError, match="object"):
        wire.decode({"__nd__": ["object", [1], "AAAAAAAAAAA="]})


def test_is_an_object_array_kept_as_a_handle_by_the_sender() -> None:
    keep: dict[int, object] = {}
    arr = np.array([{"a": 1}], dtype=object)
    encoded = wire.encode(arr, keep=keep)
    assert encoded == {"__handle__": 1, "type": "ndarray"}
    assert keep[1] is arr


def test_does_the_grader_refuse_to_send_an_object_array() -> None:
    with pytest.raises(wire.WireError, match="not plain data"):
        wire.encode([np.array([None], dtype=object)])


def test_is_an_array_whose_data_does_not_match_its_shape_refused() -> None:
    payload = wire.encode(np.arange(3.0))["__nd__"][2]
    with pytest.raises(wire.WireError, match="shape"):
        wire.decode({"__nd__": ["float64", [4], payload]})


@pytest.mark.parametrize("spec", [["float64", [-1], ""], ["float64", "3", ""],
                                  ["float64", [1]], ["float64", [1], 5]])
def test_is_a_malformed_array_refused(spec: list[object]) -> None:
    with pytest.raises(wire.WireError):
        wire.decode({"__nd__": spec})


def test_is_bad_base64_refused_as_a_wire_error() -> None:
    with pytest.raises(wire.WireError):
        wire.decode({"__nd__": ["float64", [1], "!!!!not base64!!!!"]})


def test_is_a_value_nested_too_deeply_refused() -> None:
    data: object = 1
    for _ in range(100):
        data = [data]
    with pytest.raises(wire.WireError, match="deep"):
        wire.decode(data)


def test_is_a_set_of_unhashable_values_refused() -> None:
    with pytest.raises(wire.WireError, match="unhashable"):
        wire.decode({"__set__": [[1], [2]]})


class Opaque:
    def __eq__(self, other: object) -> bool:
        return True

    __hash__ = object.__hash__


def test_does_a_non_plain_object_stay_behind_as_a_handle() -> None:
    keep: dict[int, object] = {}
    liar = Opaque()
    encoded = wire.encode({"value": liar, "also": (liar,)}, keep=keep)
    back = wire.decode(json.loads(json.dumps(encoded)))
    assert isinstance(back["value"], wire.Handle)
    assert back["value"].type_name == "Opaque"
    assert "kept in the sandbox" in repr(back["value"])
    assert back["value"] != 0 and back["value"] is not None
    assert back["value"] != back["also"][0]
    assert set(keep.values()) == {liar}


def test_is_a_dict_with_tag_like_keys_kept_rather_than_sent() -> None:
    keep: dict[int, object] = {}
    forged = {"__nd__": ["float64", [1], "AAAAAAAAAAA="]}
    assert wire.encode(forged, keep=keep) == {"__handle__": 1, "type": "dict"}


def test_does_a_dict_with_non_string_keys_stay_behind() -> None:
    keep: dict[int, object] = {}
    assert wire.encode({1: "a"}, keep=keep)["__handle__"] == 1


def test_does_a_handle_never_compare_equal_to_another_value() -> None:
    assert wire.Handle(1, "Opaque") != wire.Handle(1, "Opaque")


def test_do_callbacks_cross_by_name() -> None:
    assert roundtrip(wire.Callback("sigmoid#1")) == wire.Callback("sigmoid#1")


def test_does_dumps_refuse_a_raw_nan() -> None:
    with pytest.raises(ValueError):
        wire.dumps({"x": math.nan})


# -- the framed channel ------------------------------------------------------------------------
@pytest.fixture
def pipe() -> Iterator[dict[str, int]]:
    read_fd, write_fd = os.pipe()
    fds = {"r": read_fd, "w": write_fd}
    yield fds
    for fd in fds.values():
        if fd >= 0:
            os.close(fd)


def test_does_a_framed_message_arrive_whole_even_in_pieces(pipe: dict[str, int]) -> None:
    frame = wire.dumps({"op": "ready", "data": list(range(1000))})
    reader = wire.Reader(pipe["r"])

    def trickle() -> None:
        for start in range(0, len(frame), 97):
            os.write(pipe["w"], frame[start:start + 97])
            time.sleep(0.001)

    thread = threading.Thread(target=trickle)
    thread.start()
    message = reader.read(time.monotonic() + 5.0)
    thread.join()
    assert message == {"op": "ready", "data": list(range(1000))}


def test_are_two_messages_in_one_write_read_one_at_a_time(pipe: dict[str, int]) -> None:
    os.write(pipe["w"], wire.dumps({"n": 1}) + wire.dumps({"n": 2}))
    reader = wire.Reader(pipe["r"])
    assert reader.read(time.monotonic() + 1.0) == {"n": 1}
    assert reader.read(time.monotonic() + 1.0) == {"n": 2}


def test_does_the_reader_give_up_at_its_deadline(pipe: dict[str, int]) -> None:
    os.write(pipe["w"], wire.dumps({"n": 1})[:3])  # half a header, then silence
    reader = wire.Reader(pipe["r"])
    started = time.monotonic()
    with pytest.raises(wire.ChannelTimeout):
        reader.read(started + 0.2)
    assert 0.15 < time.monotonic() - started < 2.0


def test_does_a_deadline_already_past_time_out_at_once(pipe: dict[str, int]) -> None:
    with pytest.raises(wire.ChannelTimeout):
        wire.Reader(pipe["r"]).read(time.monotonic() - 1.0)


def test_does_a_closed_channel_raise_channel_closed(pipe: dict[str, int]) -> None:
    os.write(pipe["w"], wire.dumps({"n": 1}))
    os.close(pipe["w"])
    pipe["w"] = -1
    reader = wire.Reader(pipe["r"])
    assert reader.read(time.monotonic() + 1.0) == {"n": 1}
    with pytest.raises(wire.ChannelClosed):
        reader.read(time.monotonic() + 1.0)


def test_is_an_oversized_header_refused_without_reading_the_body(pipe: dict[str, int]) -> None:
    os.write(pipe["w"], (wire.MAX_MESSAGE + 1).to_bytes(4, "big"))
    with pytest.raises(wire.WireError, match="over the limit"):
        wire.Reader(pipe["r"]).read(time.monotonic() + 1.0)


def test_is_a_body_that_is_not_json_refused(pipe: dict[str, int]) -> None:
    os.write(pipe["w"], (5).to_bytes(4, "big") + b"{nope")
    with pytest.raises(wire.WireError, match="JSON"):
        wire.Reader(pipe["r"]).read(time.monotonic() + 1.0)


def test_does_write_message_send_what_the_reader_reads(pipe: dict[str, int]) -> None:
    big = {"x": wire.encode(np.arange(50_000.0))}  # larger than a pipe buffer
    thread = threading.Thread(target=wire.write_message, args=(pipe["w"], big))
    thread.start()
    message = wire.Reader(pipe["r"]).read(time.monotonic() + 5.0)
    thread.join()
    np.testing.assert_array_equal(wire.decode(message)["x"], np.arange(50_000.0))


# -- bounds: deadlines and sizes ---------------------------------------------------------------
def test_does_a_write_nobody_reads_give_up_at_its_deadline(pipe: dict[str, int]) -> None:
    """A frame larger than the pipe buffer, and no reader: the write ends at its deadline
    instead of blocking forever (the grader's side of issue 11 item 2)."""
    frame = wire.dumps({"x": "a" * (1 << 20)})
    started = time.monotonic()
    with pytest.raises(wire.ChannelTimeout):
        wire.write(pipe["w"], frame, started + 0.3)
    assert 0.25 < time.monotonic() - started < 2.0


def test_does_a_write_with_a_deadline_deliver_everything_to_a_slow_reader(
    pipe: dict[str, int],
) -> None:
    message = {"x": "b" * (1 << 20)}
    got: list[object] = []
    thread = threading.Thread(
        target=lambda: got.append(wire.Reader(pipe["r"]).read(time.monotonic() + 10.0)))
    thread.start()
    wire.write_message(pipe["w"], message, time.monotonic() + 10.0)
    thread.join()
    assert got == [message]


def test_is_a_message_over_the_readers_limit_refused_before_its_body_is_read(
    pipe: dict[str, int],
) -> None:
    """Refused with at most one read's worth of it taken: the sender is still blocked on the
    rest when the reader gives up."""
    body = b'"' + b"x" * (5 * wire.READ_SIZE) + b'"'
    writer = threading.Thread(target=os.write, args=(pipe["w"], len(body).to_bytes(4, "big")
                                                      + body), daemon=True)
    writer.start()
    with pytest.raises(wire.MessageTooLarge, match="over the limit") as info:
        wire.Reader(pipe["r"], limit=1000).read(time.monotonic() + 1.0)
    assert (info.value.size, info.value.limit) == (len(body), 1000)
    time.sleep(0.2)
    assert writer.is_alive()  # most of the body was never read
    while writer.is_alive() or select.select([pipe["r"]], [], [], 0)[0]:
        if select.select([pipe["r"]], [], [], 0.05)[0]:
            os.read(pipe["r"], 1 << 16)


def test_is_a_large_message_read_whole_and_nothing_of_the_next_taken(
    pipe: dict[str, int],
) -> None:
    """A message larger than one read goes into a buffer of its own size; the message after
    it arrives intact."""
    first = {"x": "c" * (3 * wire.READ_SIZE)}
    frames = wire.dumps(first) + wire.dumps({"n": 2})
    reader = wire.Reader(pipe["r"])

    def feed() -> None:
        for start in range(0, len(frames), 10_000):
            os.write(pipe["w"], frames[start:start + 10_000])

    thread = threading.Thread(target=feed)
    thread.start()
    assert reader.read(time.monotonic() + 5.0) == first
    assert reader.read(time.monotonic() + 5.0) == {"n": 2}
    thread.join()


def test_is_a_body_that_is_not_ascii_refused(pipe: dict[str, int]) -> None:
    body = '"caf\u00e9"'.encode()
    os.write(pipe["w"], len(body).to_bytes(4, "big") + body)
    with pytest.raises(wire.WireError, match="ASCII"):
        wire.Reader(pipe["r"]).read(time.monotonic() + 1.0)


def test_are_lone_surrogates_mended_and_everything_else_kept(pipe: dict[str, int]) -> None:
    """Issue 11 item 5: a lone surrogate becomes U+FFFD, in values and keys; a surrogate
    pair (an emoji), a Hangul syllable near the range and a literal backslash-u stay."""
    sent = {"a\ud800": ["\udfff x", "\U0001f600", "\ud55c", "\\ud800 as text"]}
    os.write(pipe["w"], wire.dumps(sent))
    got = wire.Reader(pipe["r"]).read(time.monotonic() + 1.0)
    assert got == {"a\ufffd": ["\ufffd x", "\U0001f600", "\ud55c", "\\ud800 as text"]}
    json.dumps(got, ensure_ascii=False).encode("utf-8")  # writable


# -- shared arguments ----------------------------------------------------------------------------
def test_are_shared_arrays_aligned_and_rebuilt_on_the_buffer_without_a_copy() -> None:
    shared = wire.SharedArrays()
    value = [np.arange(3, dtype=np.int8), {"w": np.ones((2, 2))}, np.zeros(0), np.array(2.5)]
    encoded = wire.encode(value, shared=shared)
    assert [offset % wire.SHARED_ALIGN for offset, _ in shared.regions] == [0, 0, 0]
    assert len(shared.regions) == 3  # the empty array travels inline
    buffer = bytearray(shared.data)
    back = wire.decode(json.loads(json.dumps(encoded)), shared=buffer)
    np.testing.assert_array_equal(back[1]["w"], np.ones((2, 2)))
    assert back[2].shape == (0,) and back[3].shape == ()
    back[1]["w"][0, 0] = 7.0  # writes land in the buffer, where the grader reads them
    assert shared.changed(bytes(buffer)) == [1]
    assert shared.changed(bytes(shared.data)) == []
    assert shared.changed(bytes(buffer)[:2]) == [0, 1, 2]  # a cut file: all changed


def test_is_a_shared_array_refused_where_no_file_was_offered() -> None:
    with pytest.raises(wire.WireError, match="shared"):
        wire.decode({"__shm__": ["float64", [1], 0]})


@pytest.mark.parametrize("spec", [["float64", [4], 8], ["float64", [1], -8], ["float64", [1], "0"],
                                  ["object", [1], 0]])
def test_is_a_shared_array_outside_its_file_refused(spec: list[object]) -> None:
    with pytest.raises(wire.WireError):
        wire.decode({"__shm__": spec}, shared=bytearray(32))


def test_are_handles_among_shared_arguments_counted() -> None:
    shared = wire.SharedArrays()
    wire.encode([wire.Handle(1), {"c": wire.Handle(2)}, np.ones(2)], shared=shared)
    assert shared.handles == 2
