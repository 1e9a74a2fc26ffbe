import pytest

from follicle_seg.errors import FollicleSegError
from follicle_seg.privacy import load_key, pseudonym


def test_pseudonym_is_stable_keyed_and_opaque(tmp_path):
    key_file = tmp_path / "key"
    key_file.write_bytes(b"a secret key of enough length\n")
    key = load_key(key_file)
    a = pseudonym("HOSP-000123", key)
    assert a == pseudonym("HOSP-000123", load_key(key_file))
    assert a != pseudonym("HOSP-000124", key)
    assert a != pseudonym("HOSP-000123", b"another secret key, also long")
    assert a.startswith("P") and len(a) == 13 and "000123" not in a
    assert pseudonym("", key) == ""


def test_short_or_missing_key_is_refused(tmp_path):
    (tmp_path / "short").write_bytes(b"abc")
    with pytest.raises(FollicleSegError, match="at least 16 bytes"):
        load_key(tmp_path / "short")
    with pytest.raises(FollicleSegError, match="cannot read"):
        load_key(tmp_path / "missing")


def test_the_key_is_its_bytes_without_surrounding_whitespace_and_sixteen_are_enough(tmp_path):
    (tmp_path / "a").write_bytes(b"0123456789abcdefghij\n")  # saved by an editor
    (tmp_path / "b").write_bytes(b"0123456789abcdefghij")
    assert pseudonym("HOSP-1", load_key(tmp_path / "a")) == pseudonym("HOSP-1", load_key(tmp_path / "b"))
    (tmp_path / "15").write_bytes(b"0123456789abcde")
    (tmp_path / "16").write_bytes(b"0123456789abcdef")
    with pytest.raises(FollicleSegError, match="at least 16 bytes"):
        load_key(tmp_path / "15")
    assert load_key(tmp_path / "16") == b"0123456789abcdef"
