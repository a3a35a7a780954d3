"""The key layout: encodings keep order, and the spans hold what they claim."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from multiraft.storage import keys

u64 = st.integers(min_value=0, max_value=2**64 - 1)


@given(u64, u64, u64, u64)
def test_log_keys_sort_by_range_then_index(r1, i1, r2, i2):
    k1, k2 = keys.log_key(r1, i1), keys.log_key(r2, i2)
    assert (k1 < k2) == ((r1, i1) < (r2, i2))
    assert keys.index_of_log_key(k1) == i1 and keys.range_id_of_key(k1) == r1


@given(u64, u64)
def test_log_key_encoder_is_log_key(r, i):
    assert keys.log_key_encoder(r)(i) == keys.log_key(r, i)


@given(u64, u64)
def test_every_record_of_a_range_is_inside_its_prefix(r, n):
    lo = keys.range_prefix(r)
    hi = keys.range_prefix(r + 1) if r < 2**64 - 1 else keys.USER_PREFIX
    log_lo, log_hi = keys.log_span(r)
    dedup_lo, dedup_hi = keys.dedup_span(r)
    for k in (keys.applied_state_key(r), keys.dedup_key(r, n), keys.descriptor_key(r),
              keys.hard_state_key(r), keys.log_key(r, n), keys.truncated_state_key(r)):
        assert lo <= k < hi
        assert (log_lo <= k < log_hi) == (k == keys.log_key(r, n))
        assert (dedup_lo <= k < dedup_hi) == (k == keys.dedup_key(r, n))
    assert keys.client_id_of_dedup_key(keys.dedup_key(r, n)) == n
    assert keys.hard_state_key(r) < keys.log_key(r, 0)  # a group commit's puts are in key order


@given(st.binary(), st.binary())
def test_user_keys_keep_byte_order_and_stay_in_their_space(a, b):
    ka, kb = keys.user_key(a), keys.user_key(b)
    assert (ka < kb) == (a < b)
    assert keys.user_key_of(ka) == a
    lo, hi = keys.user_span(b"", None)
    assert lo <= ka < hi
    assert keys.range_prefix(2**64 - 1) < lo


@given(st.binary(), st.binary(), st.binary())
def test_user_span_holds_exactly_the_keys_in_range(start, end, k):
    lo, hi = keys.user_span(start, end)
    assert (lo <= keys.user_key(k) < hi) == (start <= k < end)
    lo, hi = keys.user_span(start, None)
    assert (lo <= keys.user_key(k) < hi) == (start <= k)


@given(u64)
def test_install_records_are_store_wide_and_found_in_one_span(r):
    k = keys.installing_snapshot_key(r)
    lo, hi = keys.installing_snapshot_span()
    assert lo <= k < hi and keys.range_id_of_installing_key(k) == r
    assert k < keys.RANGE_LOCAL_PREFIX and not (lo <= keys.store_ident_key() < hi)
