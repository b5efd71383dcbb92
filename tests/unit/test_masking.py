from __future__ import annotations

from schemas import Address
from streams.core.masking import mask_address, mask_field, mask_id, mask_name, mask_phone


def test_contract_examples() -> None:
    assert mask_id("330106198503124176") == "3301**********4176"
    assert mask_phone("13928462846") == "139****2846"
    assert mask_name("陈晓明") == "陈*明"
    assert mask_name("王五") == "王*"


def test_short_and_empty_values_reveal_little() -> None:
    assert mask_id("H1234567") == "H******7"
    assert mask_phone("12345") == "*****"
    assert mask_name("A") == "*"
    assert mask_id(None) == mask_phone("") == ""


def test_address_keeps_only_province_city_and_district() -> None:
    address = Address(province="浙江省", city="杭州市", district="西湖区", detail="文三路259号")
    assert mask_address(address) == "浙江省杭州市西湖区***"
    assert mask_address(address.model_dump()) == "浙江省杭州市西湖区***"
    assert "文三路" not in mask_field("address", address)
